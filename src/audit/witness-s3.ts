import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { InputError, StorageError } from '../errors';
import { FolderWitness, ObjectWitness } from './witness';

/**
 * A witness in an S3 (or S3-compatible: MinIO, Ceph) bucket: `s3://bucket/prefix`.
 * A PUT replaces an object atomically. For a witness an attacker with database access
 * cannot roll back, give the bucket versioning or Object Lock and keep its credentials
 * away from database administrators.
 */
export class S3Witness extends ObjectWitness {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(url: string, config: S3ClientConfig = {}) {
    super();
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
    if (!m) throw new InputError('INVALID_CONFIG', 'an S3 witness is s3://bucket[/prefix]');
    this.bucket = m[1]!;
    this.prefix = (m[2] ?? '').replace(/\/+$/, '');
    this.location = url;
    // Checksums only where S3 requires them: S3-compatible stores differ in support.
    this.client = new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', ...config });
  }

  private key(name: string): string {
    return this.prefix ? `${this.prefix}/${name}` : name;
  }

  protected async get(name: string): Promise<string | null> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
      return (await r.Body?.transformToString('utf8')) ?? '';
    } catch (e) {
      if ((e as { name?: string }).name === 'NoSuchKey' || (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
      throw unavailable(this.location, e);
    }
  }

  protected async put(name: string, text: string): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(name), Body: text, ContentType: 'text/plain; charset=utf-8' }));
    } catch (e) {
      throw unavailable(this.location, e);
    }
  }

  protected async list(prefix: string): Promise<string[]> {
    const base = this.key(prefix);
    const names = new Set<string>();
    try {
      let token: string | undefined;
      do {
        const r = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: base, Delimiter: '/', ContinuationToken: token }),
        );
        if (prefix === '') for (const p of r.CommonPrefixes ?? []) names.add(p.Prefix!.slice(base.length).replace(/\/$/, ''));
        else for (const o of r.Contents ?? []) names.add(o.Key!.slice(base.length));
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      throw unavailable(this.location, e);
    }
    return [...names].filter((n) => n !== '' && !n.includes('/')).sort();
  }
}

function unavailable(location: string, e: unknown): StorageError {
  const code = (e as { name?: string; code?: string }).code ?? (e as { name?: string }).name ?? 'error';
  return new StorageError('STORAGE_UNAVAILABLE', `witness ${location} unavailable (${code})`, { cause: e });
}

/** A witness for a location: `s3://bucket/prefix` (with `s3` client settings), else a folder path. */
export function openWitness(location: string, s3?: S3ClientConfig): ObjectWitness {
  if (location.startsWith('s3://')) return new S3Witness(location, s3);
  return new FolderWitness(location);
}
