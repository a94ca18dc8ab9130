import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { z } from 'zod';
import { KeyError } from '../errors';
import { SecretBytes, exposeSecretBytes, generateKey, generateSigningKeyPair, publicKeyOf, signingKeyId } from '../crypto';

/**
 * The keyring file (docs/key-management.md, keys.example). JSON, mode 0600, holding
 * versioned master keys and Ed25519 signing key pairs, all base64.
 */
export const KEYRING_FORMAT = 'session-vault-keyring/v1';

const b64 = (bytes: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]+=*$/, 'expected base64')
    .refine((s) => Buffer.from(s, 'base64').length === bytes, `expected ${bytes} bytes of base64`);

export const keyringFileSchema = z.strictObject({
  format: z.literal(KEYRING_FORMAT),
  /** Null once every tenant key is under a key provider (HSM, KMS): the file then holds no master key. */
  primaryMasterKey: z.number().int().positive().nullable(),
  masterKeys: z.array(z.strictObject({ id: z.number().int().positive(), createdAt: z.iso.datetime(), key: b64(32) })),
  primarySigningKey: z.string().min(1),
  signingKeys: z
    .array(
      z.strictObject({
        id: z.string().min(1),
        createdAt: z.iso.datetime(),
        /** Set when another key became primary: this key signed from createdAt until retiredAt. */
        retiredAt: z.iso.datetime().optional(),
        publicKey: b64(32),
        secretKey: b64(64),
      }),
    )
    .min(1),
});

export type KeyringFile = z.infer<typeof keyringFileSchema>;

/** Unwrapped keyring contents. Master and signing secrets are SecretBytes. */
export interface KeyringData {
  /** Null when the file holds no master key (tenant keys are under a key provider). */
  primaryMasterKey: number | null;
  masterKeys: Map<number, { createdAt: string; key: SecretBytes }>;
  primarySigningKey: string;
  signingKeys: Map<string, { createdAt: string; retiredAt?: string; publicKey: Uint8Array; secretKey: SecretBytes }>;
}

/**
 * Reads and validates a keyring. Refuses, with a KeyError and never by making a new one:
 * a missing file (KEYRING_MISSING); a symlink, a non-regular file, or one readable or
 * writable by group or others (KEYRING_INSECURE); unparseable JSON, a schema violation,
 * a primary that does not exist, or a signing key whose public half does not match
 * (KEYRING_INVALID). Messages name the path and the rule, never key material.
 */
export async function readKeyringFile(file: string): Promise<KeyringData> {
  let stat;
  try {
    stat = await fs.lstat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KeyError('KEYRING_MISSING', `no keyring at ${file} (run \`session-vault init\` to create one)`);
    }
    throw new KeyError('KEYRING_INVALID', `keyring at ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (stat.isSymbolicLink()) throw new KeyError('KEYRING_INSECURE', `keyring at ${file} is a symlink; refusing to follow it`);
  if (!stat.isFile()) throw new KeyError('KEYRING_INSECURE', `keyring at ${file} is not a regular file`);
  if ((stat.mode & 0o077) !== 0) {
    throw new KeyError(
      'KEYRING_INSECURE',
      `keyring at ${file} has mode ${(stat.mode & 0o777).toString(8)}; it must not be accessible by group or others (chmod 600)`,
    );
  }
  let text: string;
  try {
    // O_NOFOLLOW closes the race between lstat and open.
    const handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (e) {
    throw new KeyError('KEYRING_INVALID', `keyring at ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KeyError('KEYRING_INVALID', `keyring at ${file} is not valid JSON (truncated or corrupted?)`);
  }
  const parsed = keyringFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new KeyError('KEYRING_INVALID', `keyring at ${file} is malformed: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return toKeyringData(parsed.data, file);
}

function toKeyringData(f: KeyringFile, file: string): KeyringData {
  const masterKeys = new Map<number, { createdAt: string; key: SecretBytes }>();
  for (const m of f.masterKeys) {
    if (masterKeys.has(m.id)) throw new KeyError('KEYRING_INVALID', `keyring at ${file}: master key id ${m.id} appears twice`);
    masterKeys.set(m.id, { createdAt: m.createdAt, key: SecretBytes.secure(Buffer.from(m.key, 'base64')) });
  }
  if (f.primaryMasterKey === null ? masterKeys.size > 0 : !masterKeys.has(f.primaryMasterKey)) {
    throw new KeyError('KEYRING_INVALID', `keyring at ${file}: primary master key ${f.primaryMasterKey} is not in masterKeys`);
  }
  const signingKeys = new Map<string, { createdAt: string; retiredAt?: string; publicKey: Uint8Array; secretKey: SecretBytes }>();
  for (const s of f.signingKeys) {
    const secretKey = SecretBytes.secure(Buffer.from(s.secretKey, 'base64'));
    const publicKey = new Uint8Array(Buffer.from(s.publicKey, 'base64'));
    if (Buffer.compare(publicKeyOf(secretKey), publicKey) !== 0 || signingKeyId(publicKey) !== s.id) {
      throw new KeyError('KEYRING_INVALID', `keyring at ${file}: signing key ${s.id} does not match its public key or id`);
    }
    signingKeys.set(s.id, { createdAt: s.createdAt, ...(s.retiredAt ? { retiredAt: s.retiredAt } : {}), publicKey, secretKey });
  }
  if (!signingKeys.has(f.primarySigningKey)) {
    throw new KeyError('KEYRING_INVALID', `keyring at ${file}: primary signing key ${f.primarySigningKey} is not in signingKeys`);
  }
  if (signingKeys.get(f.primarySigningKey)!.retiredAt !== undefined) {
    throw new KeyError('KEYRING_INVALID', `keyring at ${file}: primary signing key ${f.primarySigningKey} is retired`);
  }
  return { primaryMasterKey: f.primaryMasterKey, masterKeys, primarySigningKey: f.primarySigningKey, signingKeys };
}

/** Each signing key's period as the keyring states it: from its creation until its retirement (null: not retired). Pure. */
export function signingPeriods(keys: Iterable<{ id: string; createdAt: string; retiredAt?: string | undefined }>): Map<string, { from: Date; until: Date | null }> {
  return new Map([...keys].map((k) => [k.id, { from: new Date(k.createdAt), until: k.retiredAt ? new Date(k.retiredAt) : null }]));
}

/** A new keyring's file contents: one master key and one signing key pair. */
export function newKeyringFile(now: Date, options: { master?: boolean } = {}): KeyringFile {
  const master = options.master === false ? null : generateKey();
  const signing = generateSigningKeyPair();
  const id = signingKeyId(signing.publicKey);
  const file: KeyringFile = {
    format: KEYRING_FORMAT,
    primaryMasterKey: master ? 1 : null,
    masterKeys: master ? [{ id: 1, createdAt: now.toISOString(), key: Buffer.from(exposeSecretBytes(master)).toString('base64') }] : [],
    primarySigningKey: id,
    signingKeys: [
      {
        id,
        createdAt: now.toISOString(),
        publicKey: Buffer.from(signing.publicKey).toString('base64'),
        secretKey: Buffer.from(exposeSecretBytes(signing.secretKey)).toString('base64'),
      },
    ],
  };
  master?.dispose();
  signing.secretKey.dispose();
  return file;
}

/**
 * Creates a keyring file with mode 0600, failing if one exists (never overwrites keys).
 * Written to a temp file, fsynced, then linked into place, so a crash never leaves a
 * half-written keyring at `file`. Returns false when a keyring already existed.
 */
export async function createKeyringFile(file: string, now: Date, options: { master?: boolean } = {}): Promise<boolean> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(JSON.stringify(newKeyringFile(now, options), null, 2) + '\n', 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.link(tmp, file); // atomic, and fails if `file` exists
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** Reads the keyring file's raw, validated contents (for rewriting it). */
export async function readKeyringDocument(file: string): Promise<KeyringFile> {
  const data = await readKeyringFile(file); // every check of a normal read, first
  for (const m of data.masterKeys.values()) m.key.dispose();
  for (const k of data.signingKeys.values()) k.secretKey.dispose();
  return keyringFileSchema.parse(JSON.parse(await fs.readFile(file, 'utf8')));
}

/**
 * Changes the keyring file: reads its document, hands it to `change` and replaces the file
 * with what `change` returns (null: leaves it), holding a lock from the read to the
 * replacement, so that two commands changing the keyring at once (a signing key rotated
 * while a master rotation finishes) never write over each other's keys. The lock is a
 * folder beside the file, `.<name>.lock` (proper-lockfile: an atomic mkdir, across
 * processes and on NFS, refreshed while held, a dead holder's taken over after 10 s); a
 * change waits for another's up to `waitMs`, then fails KEY_UNAVAILABLE, having changed
 * nothing. Returns the document in force after.
 */
export async function updateKeyringFile(file: string, change: (doc: KeyringFile) => KeyringFile | null, waitMs = 30_000): Promise<KeyringFile> {
  const lockPath = path.join(path.dirname(file), `.${path.basename(file)}.lock`);
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(file, { lockfilePath: lockPath, realpath: false, stale: 10_000, update: 2_000, retries: { retries: Math.ceil(waitMs / 50), factor: 1, minTimeout: 50, maxTimeout: 50 }, onCompromised: () => {} });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOCKED') throw new KeyError('KEY_UNAVAILABLE', `the keyring ${file} is being changed by another command (it held ${lockPath} for ${waitMs / 1000} s)`);
    await readKeyringDocument(file); // a keyring that is not there, or not readable, says so (KEYRING_MISSING…)
    throw new KeyError('KEY_UNAVAILABLE', `cannot lock the keyring ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const doc = await readKeyringDocument(file);
    const next = change(doc);
    if (next === null) return doc;
    await replaceKeyringFile(file, next);
    return next;
  } finally {
    await release().catch(() => {}); // taken over as stale: released already
  }
}

/**
 * Replaces a keyring file so that a crash at any point leaves a valid keyring at `file`,
 * old or new, never neither: the new contents go to a temp file (0600, fsynced), are read
 * back and fully validated, the old file is kept as `<file>.previous`, and the temp file
 * is renamed over `file` (atomic), then the folder is fsynced.
 */
export async function replaceKeyringFile(file: string, doc: KeyringFile): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(JSON.stringify(keyringFileSchema.parse(doc), null, 2) + '\n', 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    const check = await readKeyringFile(tmp); // the new file must load before it replaces anything
    for (const m of check.masterKeys.values()) m.key.dispose();
    for (const k of check.signingKeys.values()) k.secretKey.dispose();
    await fs.rm(`${file}.previous`, { force: true });
    await fs.link(file, `${file}.previous`);
    await fs.rename(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * A keyring document with a new primary signing key; the old primary is retired now
 * (its period ends) but kept, so checkpoints it signed still verify.
 */
export function withNewSigningKey(doc: KeyringFile, now: Date): { doc: KeyringFile; id: string } {
  const kp = generateSigningKeyPair();
  const id = signingKeyId(kp.publicKey);
  const entry = {
    id,
    createdAt: now.toISOString(),
    publicKey: Buffer.from(kp.publicKey).toString('base64'),
    secretKey: Buffer.from(exposeSecretBytes(kp.secretKey)).toString('base64'),
  };
  kp.secretKey.dispose();
  const signingKeys = doc.signingKeys.map((k) => (k.id === doc.primarySigningKey ? { ...k, retiredAt: now.toISOString() } : k));
  return { doc: { ...doc, primarySigningKey: id, signingKeys: [...signingKeys, entry] }, id };
}

/** A keyring document with a new primary master key (the others kept until nothing needs them). */
export function withNewMasterKey(doc: KeyringFile, now: Date): { doc: KeyringFile; id: number } {
  const id = Math.max(0, ...doc.masterKeys.map((m) => m.id)) + 1;
  const key = generateKey();
  const entry = { id, createdAt: now.toISOString(), key: Buffer.from(exposeSecretBytes(key)).toString('base64') };
  key.dispose();
  return { doc: { ...doc, primaryMasterKey: id, masterKeys: [...doc.masterKeys, entry] }, id };
}

/** A keyring document with no master key at all: every tenant key is under a key provider. */
export function withoutAnyMasterKey(doc: KeyringFile): KeyringFile {
  return { ...doc, primaryMasterKey: null, masterKeys: [] };
}

/** A keyring document without the master keys `drop` (never the primary). */
export function withoutMasterKeys(doc: KeyringFile, drop: ReadonlySet<number>): KeyringFile {
  return { ...doc, masterKeys: doc.masterKeys.filter((m) => m.id === doc.primaryMasterKey || !drop.has(m.id)) };
}
