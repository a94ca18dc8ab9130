import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { StorageError } from '../errors';
import { parseCheckpoint } from './checkpoint';

/**
 * The witness: signed checkpoints kept outside the database, so that restoring an older,
 * internally consistent copy of the database (a rollback) shows: the database's chain no
 * longer reaches the witnessed head. A folder by default (`$VAULT_HOME/witness`), or an
 * S3 bucket (witness-s3.ts). It keeps one object a session and the public keys.
 */
export interface Witness {
  /** Where it lives, for messages. */
  readonly location: string;
  /** The latest witnessed checkpoint note of a session, or null. */
  latest(tenant: string, session: string): Promise<string | null>;
  /** Every session the witness has seen, optionally of one tenant. */
  sessions(tenant?: string): Promise<{ tenant: string; session: string }[]>;
  /**
   * Records a newer checkpoint note. Refuses (returns the reason) to go backwards — a seq
   * lower than the one witnessed, or the same seq with another hash — since that is what
   * a rollback looks like.
   */
  record(note: string): Promise<'recorded' | 'unchanged' | 'witness_ahead' | 'witness_fork'>;
  /** Public signing keys, kept beside the checkpoints so verification needs no keyring. */
  publicKeys(): Promise<Map<string, Uint8Array>>;
  addPublicKeys(keys: ReadonlyMap<string, Uint8Array>): Promise<void>;
}

const keysFile = z.strictObject({ keys: z.array(z.strictObject({ id: z.string().min(1), publicKey: z.string().min(1) })) });
const SUFFIX = '.checkpoint';

/**
 * A witness over any store of small named objects. Layout: `<tenant>/<session>.checkpoint`
 * (the latest witnessed note) and `public-keys.json` (`{"keys":[{"id","publicKey"}]}`).
 * Subclasses provide get, put (atomic replace) and list.
 */
export abstract class ObjectWitness implements Witness {
  abstract readonly location: string;
  /** The object's text, or null if there is none. */
  protected abstract get(name: string): Promise<string | null>;
  /** Replaces the object atomically. */
  protected abstract put(name: string, text: string): Promise<void>;
  /** Names under a prefix (`tenant/`), or every tenant's folder name when prefix is ''. */
  protected abstract list(prefix: string): Promise<string[]>;

  latest(tenant: string, session: string): Promise<string | null> {
    // Ids are validated ([a-z0-9._-] and [A-Za-z0-9._:-]); neither can contain a separator.
    return this.get(`${tenant}/${session}${SUFFIX}`);
  }

  async sessions(tenant?: string): Promise<{ tenant: string; session: string }[]> {
    const out: { tenant: string; session: string }[] = [];
    for (const t of tenant !== undefined ? [tenant] : await this.list('')) {
      for (const name of await this.list(`${t}/`)) {
        if (name.endsWith(SUFFIX)) out.push({ tenant: t, session: name.slice(0, -SUFFIX.length) });
      }
    }
    return out;
  }

  async record(note: string): Promise<'recorded' | 'unchanged' | 'witness_ahead' | 'witness_fork'> {
    const parsed = parseCheckpoint(note);
    if (!parsed) throw new StorageError('STORAGE_REFUSED', 'refusing to witness a malformed checkpoint');
    const { tenant, session, seq, hash } = parsed.checkpoint;
    const previous = await this.latest(tenant, session);
    const prev = previous ? parseCheckpoint(previous) : null;
    if (prev) {
      if (prev.checkpoint.seq > seq) return 'witness_ahead';
      if (prev.checkpoint.seq === seq) {
        return Buffer.compare(Buffer.from(prev.checkpoint.hash), Buffer.from(hash)) === 0 ? 'unchanged' : 'witness_fork';
      }
    }
    await this.put(`${tenant}/${session}${SUFFIX}`, note);
    return 'recorded';
  }

  async publicKeys(): Promise<Map<string, Uint8Array>> {
    const text = await this.get('public-keys.json');
    if (text === null) return new Map();
    let parsed;
    try {
      parsed = keysFile.safeParse(JSON.parse(text));
    } catch {
      parsed = { success: false as const };
    }
    if (!parsed.success) throw new StorageError('STORAGE_REFUSED', `witness ${this.location}: public-keys.json is malformed`);
    return new Map(parsed.data.keys.map((k) => [k.id, new Uint8Array(Buffer.from(k.publicKey, 'base64'))]));
  }

  async addPublicKeys(keys: ReadonlyMap<string, Uint8Array>): Promise<void> {
    const all = await this.publicKeys();
    const before = all.size;
    for (const [id, key] of keys) if (!all.has(id)) all.set(id, key);
    if (all.size === before) return;
    const doc = { keys: [...all].map(([id, k]) => ({ id, publicKey: Buffer.from(k).toString('base64') })) };
    await this.put('public-keys.json', JSON.stringify(doc, null, 2) + '\n');
  }
}

/** A witness in a local folder (mode 0700 folders, 0600 files, atomic replace). */
export class FolderWitness extends ObjectWitness {
  constructor(readonly location: string) {
    super();
  }

  protected async get(name: string): Promise<string | null> {
    try {
      return await fs.readFile(path.join(this.location, name), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw unavailable(this.location, e);
    }
  }

  protected async put(name: string, text: string): Promise<void> {
    const file = path.join(this.location, name);
    try {
      await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
      const handle = await fs.open(tmp, 'w', 0o600);
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(tmp, file);
    } catch (e) {
      throw unavailable(this.location, e);
    }
  }

  protected async list(prefix: string): Promise<string[]> {
    try {
      const entries = await fs.readdir(path.join(this.location, prefix), { withFileTypes: true });
      return entries
        .filter((e) => (prefix === '' ? e.isDirectory() : e.isFile()))
        .map((e) => e.name)
        .sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw unavailable(this.location, e);
    }
  }
}

function unavailable(location: string, e: unknown): StorageError {
  return new StorageError('STORAGE_UNAVAILABLE', `witness ${location} unavailable (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
}
