import { createHash, randomBytes } from 'node:crypto';
import fsc, { promises as fs } from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { StorageError } from '../errors';
import { isSafeName, type ObjectStore, type VersionedObject } from './store';

/** Where the locks of conditional writes live: no tenant id begins with a dot, so `list('')` never names it. */
const LOCKS = '.locks';
const LOCK_POLL_MS = 25;

/**
 * Objects as files under a folder: folders mode 0700, files 0600, written to a temporary
 * file, fsynced and renamed into place, then the folder holding it (and every folder the
 * write created) fsynced too, so a crash leaves the old object or the new one, and a
 * `put` that returned survives power loss: the archive deletes hot rows only after it.
 */
export class FolderObjectStore implements ObjectStore {
  /**
   * @param label what the store is for, in error messages ("witness", "archive").
   * @param lockWaitMs how long a conditional write waits for another writer's lock.
   */
  constructor(
    readonly location: string,
    private readonly label: string,
    private readonly lockWaitMs = 20_000,
  ) {}

  async get(name: string): Promise<Uint8Array | null> {
    try {
      const b = await readFile(this.file(name));
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw this.unavailable(e);
    }
  }

  async put(name: string, body: Uint8Array): Promise<void> {
    await this.write(name, body, 'replace');
  }

  /**
   * The object written to a temporary file of its own name (two writes of one object at
   * once, in one process or two, never share one), fsynced, then put in place: renamed
   * over the object ('replace'), or linked to its name only where there is none
   * ('create': atomic, false when one is there). Then the folder holding it (and every
   * folder the write created) is fsynced.
   */
  private async write(name: string, body: Uint8Array, mode: 'replace' | 'create'): Promise<boolean> {
    const file = this.file(name);
    try {
      const created = await mkdir(path.dirname(file), 0o700);
      const tmp = `${file}.${randomBytes(8).toString('hex')}.tmp`;
      const fd = await open(tmp, 'w', 0o600);
      try {
        for (let at = 0; at < body.length; ) at += await write(fd, body, at, body.length - at);
        await fsync(fd);
      } finally {
        await close(fd);
      }
      if (mode === 'replace') await rename(tmp, file);
      else {
        const linked = await link(tmp, file).then(
          () => true,
          (e: NodeJS.ErrnoException) => {
            if (e.code === 'EEXIST') return false;
            throw e;
          },
        );
        await unlink(tmp);
        if (!linked) return false;
      }
      // The new name is durable once the folder is; a new folder once its parent is.
      const folders = [path.dirname(file)];
      if (created) for (let d = path.dirname(file); d !== path.dirname(created); d = path.dirname(d)) folders.push(path.dirname(d));
      for (const d of new Set(folders)) await syncFolder(d);
      return true;
    } catch (e) {
      throw this.unavailable(e);
    }
  }

  async getVersioned(name: string): Promise<VersionedObject | null> {
    const body = await this.get(name);
    return body === null ? null : { body, version: versionOf(body) };
  }

  async putIfVersion(name: string, body: Uint8Array, version: string | null): Promise<boolean> {
    if (version === null) return this.write(name, body, 'create'); // no lock: a link never replaces a name
    const lock = await this.lock(name);
    try {
      const current = await this.get(name);
      if ((current === null ? null : versionOf(current)) !== version || lock.lost()) return false;
      await this.put(name, body);
      return true;
    } finally {
      await lock.release().catch(() => {}); // a lock taken from us as stale is released already
    }
  }

  /**
   * Holds the object's lock, `.locks/<name>.lock` (proper-lockfile: an atomic mkdir that
   * works across processes and on NFS, refreshed while held, stale 10 s after its holder
   * stopped refreshing it), waiting for another writer's up to `lockWaitMs` (polling every
   * 25 ms). `lost()`: the lock was taken from us as stale (we were frozen past those 10 s).
   */
  private async lock(name: string): Promise<{ release(): Promise<void>; lost(): boolean }> {
    const lockPath = path.join(this.location, LOCKS, `${name}.lock`);
    let lost = false;
    try {
      await mkdir(path.dirname(lockPath), 0o700);
      const release = await lockfile.lock(this.file(name), {
        lockfilePath: lockPath,
        realpath: false,
        stale: 10_000,
        update: 2_000,
        retries: { retries: Math.ceil(this.lockWaitMs / LOCK_POLL_MS), factor: 1, minTimeout: LOCK_POLL_MS, maxTimeout: LOCK_POLL_MS },
        onCompromised: () => {
          lost = true;
        },
      });
      return { release, lost: () => lost };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ELOCKED') {
        throw new StorageError('STORAGE_UNAVAILABLE', `${this.label} ${this.location}: another writer held ${name} for ${this.lockWaitMs / 1000} s`, { cause: e });
      }
      throw this.unavailable(e);
    }
  }

  async list(prefix: string): Promise<string[]> {
    try {
      const entries = await fs.readdir(path.join(this.location, prefix), { withFileTypes: true });
      return entries
        .filter((e) => (prefix === '' ? e.isDirectory() && e.name !== LOCKS : e.isFile() && !e.name.endsWith('.tmp')))
        .map((e) => e.name)
        .sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw this.unavailable(e);
    }
  }

  async delete(name: string): Promise<void> {
    try {
      await fs.rm(this.file(name), { force: true });
    } catch (e) {
      throw this.unavailable(e);
    }
  }

  private file(name: string): string {
    if (!isSafeName(name)) throw new StorageError('STORAGE_REFUSED', `${this.label}: refusing an unsafe object name`);
    return path.join(this.location, name);
  }

  private unavailable(e: unknown): StorageError {
    return new StorageError('STORAGE_UNAVAILABLE', `${this.label} ${this.location} unavailable (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
}

/** A folder object's version: the digest of its bytes. */
function versionOf(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('base64');
}

/** fsync of a folder: makes the entries in it (a rename, a new subfolder) durable. */
async function syncFolder(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fsync(fd);
  } finally {
    await close(fd);
  }
}

// The callback API, for the calls of every put and get: through fs.promises' FileHandle a
// put and its read-back cost about twice the CPU (250 µs against 120 in a scratch run of
// 3,000 4 KB objects), and a retention run makes one of each for every session it archives.
// Looked up at each call, so a test can watch them (folder-durability.test.ts).
function call<T>(f: (done: (e: NodeJS.ErrnoException | null, r: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => f((e, r) => (e ? reject(e) : resolve(r))));
}
const open = (p: string, flags: string, mode?: number) => call<number>((done) => fsc.open(p, flags, mode, done));
const close = (fd: number) => call<void>((done) => fsc.close(fd, (e) => done(e, undefined)));
const fsync = (fd: number) => call<void>((done) => fsc.fsync(fd, (e) => done(e, undefined)));
const write = (fd: number, b: Uint8Array, offset: number, length: number) => call<number>((done) => fsc.write(fd, b, offset, length, null, (e, n) => done(e, n)));
const rename = (from: string, to: string) => call<void>((done) => fsc.rename(from, to, (e) => done(e, undefined)));
const link = (from: string, to: string) => call<void>((done) => fsc.link(from, to, (e) => done(e, undefined)));
const unlink = (p: string) => call<void>((done) => fsc.unlink(p, (e) => done(e, undefined)));
const readFile = (p: string) => call<Buffer>((done) => fsc.readFile(p, done));
const mkdir = (dir: string, mode: number) => call<string | undefined>((done) => fsc.mkdir(dir, { recursive: true, mode }, done));
