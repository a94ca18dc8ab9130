import { promises as fs } from 'node:fs';
import path from 'node:path';
import { StorageError } from '../errors';
import { isSafeName, type ObjectStore } from './store';

/**
 * Objects as files under a folder: folders mode 0700, files 0600, written to a temporary
 * file, fsynced and renamed into place, then the folder holding it (and every folder the
 * write created) fsynced too, so a crash leaves the old object or the new one, and a
 * `put` that returned survives power loss: the archive deletes hot rows only after it.
 */
export class FolderObjectStore implements ObjectStore {
  /** @param label what the store is for, in error messages ("witness", "archive"). */
  constructor(
    readonly location: string,
    private readonly label: string,
  ) {}

  async get(name: string): Promise<Uint8Array | null> {
    try {
      const b = await fs.readFile(this.file(name));
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw this.unavailable(e);
    }
  }

  async put(name: string, body: Uint8Array): Promise<void> {
    const file = this.file(name);
    try {
      const created = await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
      const handle = await fs.open(tmp, 'w', 0o600);
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(tmp, file);
      // The rename is durable once the folder is; a new folder once its parent is.
      const folders = [path.dirname(file)];
      if (created) for (let d = path.dirname(file); d !== path.dirname(created); d = path.dirname(d)) folders.push(path.dirname(d));
      for (const d of new Set(folders)) await syncFolder(d);
    } catch (e) {
      throw this.unavailable(e);
    }
  }

  async list(prefix: string): Promise<string[]> {
    try {
      const entries = await fs.readdir(path.join(this.location, prefix), { withFileTypes: true });
      return entries
        .filter((e) => (prefix === '' ? e.isDirectory() : e.isFile() && !e.name.endsWith('.tmp')))
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

/** fsync of a folder: makes the entries in it (a rename, a new subfolder) durable. */
async function syncFolder(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
