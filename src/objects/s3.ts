import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { InputError, StorageError } from '../errors';
import { loadOptional } from '../optional';

type Sdk = typeof import('@aws-sdk/client-s3');
import type { ObjectStore, PutOptions, VersionedObject } from './store';

/**
 * Settings for the S3 client: any `S3ClientConfig` field of `@aws-sdk/client-s3` (region,
 * endpoint, forcePathStyle, credentials, ...). Typed here, not imported, so that the package's
 * public types do not need the SDK (an optional peer dependency) installed to type-check.
 */
export interface S3Settings {
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  [setting: string]: unknown;
}

/** Mode of the Object Lock retention set on archived objects: COMPLIANCE cannot be shortened by anyone. */
export type ObjectLockMode = 'COMPLIANCE' | 'GOVERNANCE';

/**
 * Objects in an S3 bucket, or an S3-compatible store (MinIO, Ceph: give `endpoint` and
 * `forcePathStyle` in the client config): `s3://bucket/prefix`. A PUT replaces an object
 * atomically. When the bucket has Object Lock enabled, `retainUntil` becomes the object's
 * retention (WORM until then, as SEC 17a-4(f) asks); a bucket without it stores the object
 * unlocked, and `objectLock()` says so.
 */
export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  #s3: Promise<{ sdk: Sdk; client: S3Client }> | undefined;
  private readonly bucket: string;
  private readonly prefix: string;
  #lock: Promise<boolean> | undefined;
  #conditional: Promise<void> | undefined;

  constructor(
    url: string,
    config: S3Settings,
    private readonly label: string,
    private readonly lockMode: ObjectLockMode = 'COMPLIANCE',
  ) {
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
    if (!m) throw new InputError('INVALID_CONFIG', `an S3 ${label} is s3://bucket[/prefix]`);
    this.bucket = m[1]!;
    this.prefix = (m[2] ?? '').replace(/\/+$/, '');
    this.location = url;
    this.config = config;
  }

  private readonly config: S3Settings;

  /** The AWS SDK, loaded on first use (an optional peer dependency), and one client. */
  private s3(): Promise<{ sdk: Sdk; client: S3Client }> {
    this.#s3 ??= loadOptional(() => import('@aws-sdk/client-s3'), '@aws-sdk/client-s3', `an s3:// ${this.label}`).then(
      // Checksums only where S3 requires them: S3-compatible stores differ in support.
      (sdk) => ({ sdk, client: new sdk.S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', ...(this.config as S3ClientConfig) }) }),
      (e: unknown) => {
        this.#s3 = undefined;
        throw e;
      },
    );
    return this.#s3;
  }

  private key(name: string): string {
    return this.prefix ? `${this.prefix}/${name}` : name;
  }

  /**
   * Whether the bucket has Object Lock enabled (asked once). A store that does not know
   * the question (many S3-compatible ones) answers no; an unreachable one throws.
   */
  objectLock(): Promise<boolean> {
    this.#lock ??= this.s3()
      .then(({ sdk, client }) => client.send(new sdk.GetObjectLockConfigurationCommand({ Bucket: this.bucket })))
      .then((r) => r.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled')
      .catch((e: unknown) => {
        if (e instanceof InputError) throw e; // the SDK is not installed
        const status = httpStatus(e);
        // An answer that is not "here is the configuration" (no configuration, unknown
        // request, not implemented) means no lock; no answer at all, or a server error, is unreachable.
        if (status !== undefined && status < 500) return false;
        if (status === 501) return false;
        this.#lock = undefined; // ask again next time
        throw this.unavailable(e);
      });
    return this.#lock;
  }

  async get(name: string): Promise<Uint8Array | null> {
    const { sdk, client } = await this.s3();
    try {
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
      return (await r.Body?.transformToByteArray()) ?? new Uint8Array();
    } catch (e) {
      if ((e as { name?: string }).name === 'NoSuchKey' || httpStatus(e) === 404) return null;
      throw this.unavailable(e);
    }
  }

  async put(name: string, body: Uint8Array, options: PutOptions = {}): Promise<void> {
    await this.putObject(name, body, {}, options);
  }

  async getVersioned(name: string): Promise<VersionedObject | null> {
    const { sdk, client } = await this.s3();
    try {
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
      const body = (await r.Body?.transformToByteArray()) ?? new Uint8Array();
      if (!r.ETag) throw new StorageError('STORAGE_REFUSED', `${this.label} ${this.location} gives objects no ETag, so it cannot be written conditionally`);
      return { body, version: r.ETag };
    } catch (e) {
      if (e instanceof StorageError) throw e;
      if ((e as { name?: string }).name === 'NoSuchKey' || httpStatus(e) === 404) return null;
      throw this.unavailable(e);
    }
  }

  /**
   * A conditional PUT (`If-Match` the ETag read, or `If-None-Match: *` where there was none),
   * which S3 has answered since 2024: 412 when another write came first, 409 when one is
   * being made at the same moment. A store that ignores the headers writes over the other;
   * docs/operations.md says what to check of an S3-compatible one.
   */
  async putIfVersion(name: string, body: Uint8Array, version: string | null, options: PutOptions = {}): Promise<boolean> {
    await this.conditionalWrites();
    return this.conditionalPut(name, body, version === null ? { IfNoneMatch: '*' } : { IfMatch: version }, options);
  }

  /** A PUT with its condition: false when the store refused it as not holding (412, or 409 for a write to it under way). */
  private async conditionalPut(name: string, body: Uint8Array, condition: { IfMatch?: string; IfNoneMatch?: string }, options: PutOptions = {}): Promise<boolean> {
    try {
      await this.putObject(name, body, condition, options);
      return true;
    } catch (e) {
      const status = httpStatus((e as { cause?: unknown }).cause);
      if (status === 412 || status === 409) return false;
      throw e;
    }
  }

  /**
   * Whether the store answers conditional writes, asked once before the first: a store
   * that ignores them (some S3-compatible ones, older versions of others) writes a late
   * writer's stale object over a newer one, which moves the witness back and lets an
   * archive write over another's; refused here (STORAGE_REFUSED) rather than trusted.
   * It writes `.session-vault/conditional-writes` under the prefix if it is not there,
   * then writes it twice more on conditions that do not hold: `If-None-Match: *` (it is
   * there) and `If-Match` an ETag no object has. Each must be refused. A store that
   * honours them is left with the one object, written once; one that does not, with it
   * written three times. Asked again after a store that could not be reached.
   */
  private conditionalWrites(): Promise<void> {
    this.#conditional ??= this.probeConditionalWrites().catch((e: unknown) => {
      if (!(e instanceof StorageError && e.code === 'STORAGE_REFUSED')) this.#conditional = undefined;
      throw e;
    });
    return this.#conditional;
  }

  private async probeConditionalWrites(): Promise<void> {
    const body = new TextEncoder().encode('session-vault asks of this store that it refuse a write whose condition does not hold (If-Match, If-None-Match)\n');
    /** True when the store wrote it, condition or not; false when it held the write back. */
    const written = async (header: 'If-None-Match' | 'If-Match', condition: { IfMatch?: string; IfNoneMatch?: string }): Promise<boolean> => {
      try {
        return await this.conditionalPut(PROBE, body, condition);
      } catch (e) {
        // A store that does not implement the header says so (501, or 400 for an argument it does not know).
        const status = httpStatus((e as { cause?: unknown }).cause);
        if (status === 501 || status === 400) throw this.unconditional(`${header} answered ${status}`, e);
        // If-Match where there is no object: S3 answers 404 (another deleted it in between); the condition held back the write.
        if (status === 404) return false;
        throw e;
      }
    };
    await written('If-None-Match', { IfNoneMatch: '*' }); // written or not, it is there now on a store that keeps what it is given
    const ignored = [];
    if (await written('If-None-Match', { IfNoneMatch: '*' })) ignored.push('If-None-Match');
    if (await written('If-Match', { IfMatch: '"session-vault-no-such-version"' })) ignored.push('If-Match');
    if (ignored.length > 0) throw this.unconditional(`it wrote over an object where ${ignored.join(' and ')} did not hold`);
  }

  private unconditional(why: string, cause?: unknown): StorageError {
    return new StorageError(
      'STORAGE_REFUSED',
      `${this.label} ${this.location} does not answer conditional writes (${why}): two processes writing at once could write one over the other; use a store that answers them (docs/operations.md)`,
      cause === undefined ? undefined : { cause },
    );
  }

  private async putObject(name: string, body: Uint8Array, condition: { IfMatch?: string; IfNoneMatch?: string }, options: PutOptions): Promise<void> {
    const lock = options.retainUntil !== undefined && (await this.objectLock());
    const { sdk, client } = await this.s3();
    try {
      await client.send(
        new sdk.PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(name),
          Body: body,
          ContentType: options.contentType ?? 'application/octet-stream',
          ...condition,
          ...(lock ? { ObjectLockMode: this.lockMode, ObjectLockRetainUntilDate: options.retainUntil } : {}),
        }),
      );
    } catch (e) {
      throw this.unavailable(e);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const base = this.key(prefix);
    const names = new Set<string>();
    const { sdk, client } = await this.s3();
    try {
      let token: string | undefined;
      do {
        const r = await client.send(new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: base, Delimiter: '/', ContinuationToken: token }));
        if (prefix === '') for (const p of r.CommonPrefixes ?? []) names.add(p.Prefix!.slice(base.length).replace(/\/$/, ''));
        else for (const o of r.Contents ?? []) names.add(o.Key!.slice(base.length));
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      throw this.unavailable(e);
    }
    return [...names].filter((n) => n !== '' && !n.includes('/') && !(prefix === '' && n === PROBE_FOLDER)).sort();
  }

  async delete(name: string): Promise<void> {
    const { sdk, client } = await this.s3();
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
    } catch (e) {
      if (httpStatus(e) === 404) return;
      if (httpStatus(e) === 403) {
        throw new StorageError('STORAGE_REFUSED', `${this.label} ${this.location} refused to delete an object (retention lock or permissions)`, { cause: e });
      }
      throw this.unavailable(e);
    }
  }

  private unavailable(e: unknown): StorageError {
    const code = (e as { code?: string }).code ?? (e as { name?: string }).name ?? 'error';
    return new StorageError('STORAGE_UNAVAILABLE', `${this.label} ${this.location} unavailable (${code})`, { cause: e });
  }
}

/** Where the check of conditional writes keeps its object: no tenant id begins with a dot, so `list('')` never names it. */
const PROBE_FOLDER = '.session-vault';
const PROBE = `${PROBE_FOLDER}/conditional-writes`;

function httpStatus(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}
