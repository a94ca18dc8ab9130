import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { StorageError } from '../errors';
import { parseCheckpoint } from './checkpoint';

/**
 * The witness: signed checkpoints kept outside the database, so that restoring an older,
 * internally consistent copy of the database (a rollback) shows: the database's chain no
 * longer reaches the witnessed head. A folder by default (`$VAULT_HOME/witness`); any
 * store that can keep one small object per session can implement it.
 */
export interface Witness {
  /** Where it lives, for messages. */
  readonly location: string;
  /** The latest witnessed checkpoint note of a session, or null. */
  latest(tenant: string, session: string): Promise<string | null>;
  /** Every session the witness has seen, by tenant. */
  sessions(tenant?: string): Promise<{ tenant: string; session: string }[]>;
  /**
   * Records a newer checkpoint note. Refuses (returns the reason) to go backwards — a seq
   * lower than the one witnessed, or the same seq with another hash — since that is what
   * a rollback looks like. Writes atomically (temp file, fsync, rename).
   */
  record(note: string): Promise<'recorded' | 'unchanged' | 'witness_ahead' | 'witness_fork'>;
  /** Public signing keys, kept beside the checkpoints so verification needs no keyring. */
  publicKeys(): Promise<Map<string, Uint8Array>>;
  addPublicKeys(keys: ReadonlyMap<string, Uint8Array>): Promise<void>;
}

const keysFile = z.strictObject({ keys: z.array(z.strictObject({ id: z.string().min(1), publicKey: z.string().min(1) })) });

/** A witness in a local folder: `<dir>/<tenant>/<session>.checkpoint` and `<dir>/public-keys.json`. */
export class FolderWitness implements Witness {
  constructor(readonly location: string) {}

  async latest(tenant: string, session: string): Promise<string | null> {
    try {
      return await fs.readFile(this.file(tenant, session), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw unavailable(this.location, e);
    }
  }

  async sessions(tenant?: string): Promise<{ tenant: string; session: string }[]> {
    const out: { tenant: string; session: string }[] = [];
    const tenants = tenant !== undefined ? [tenant] : (await this.list(this.location)).filter((e) => e.isDirectory()).map((e) => e.name);
    for (const t of tenants) {
      for (const f of await this.list(path.join(this.location, t))) {
        if (f.isFile() && f.name.endsWith('.checkpoint')) out.push({ tenant: t, session: f.name.slice(0, -'.checkpoint'.length) });
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
    await writeAtomic(this.file(tenant, session), note);
    return 'recorded';
  }

  async publicKeys(): Promise<Map<string, Uint8Array>> {
    let text: string;
    try {
      text = await fs.readFile(path.join(this.location, 'public-keys.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw unavailable(this.location, e);
    }
    const parsed = keysFile.safeParse(JSON.parse(text));
    if (!parsed.success) throw new StorageError('STORAGE_REFUSED', `witness ${this.location}: public-keys.json is malformed`);
    return new Map(parsed.data.keys.map((k) => [k.id, new Uint8Array(Buffer.from(k.publicKey, 'base64'))]));
  }

  async addPublicKeys(keys: ReadonlyMap<string, Uint8Array>): Promise<void> {
    const all = await this.publicKeys();
    let changed = false;
    for (const [id, key] of keys) {
      if (!all.has(id)) {
        all.set(id, key);
        changed = true;
      }
    }
    if (!changed) return;
    const doc = { keys: [...all].map(([id, k]) => ({ id, publicKey: Buffer.from(k).toString('base64') })) };
    await writeAtomic(path.join(this.location, 'public-keys.json'), JSON.stringify(doc, null, 2) + '\n');
  }

  private file(tenant: string, session: string): string {
    // Ids are validated ([a-z0-9._-] and [A-Za-z0-9._:-]); neither can contain a path separator.
    return path.join(this.location, tenant, `${session}.checkpoint`);
  }

  private async list(dir: string): Promise<Dirent[]> {
    try {
      return (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw unavailable(this.location, e);
    }
  }
}

async function writeAtomic(file: string, text: string): Promise<void> {
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
}

function unavailable(location: string, e: unknown): StorageError {
  return new StorageError('STORAGE_UNAVAILABLE', `witness ${location} unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
}
