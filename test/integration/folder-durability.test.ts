import fs, { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { FolderObjectStore } from '../../src/objects';

/**
 * The folder store's put is durable when it returns: the file, the folder holding it
 * and every folder the put created are fsynced, in that order of need, before the caller
 * (an archive about to delete hot rows) is told it is done.
 */
describe('the folder object store', () => {
  it('fsyncs the file, its folder and each new parent folder before put returns', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'sv-durable-'));
    const synced: string[] = [];
    const paths = new Map<number, string>();
    const open = fs.open.bind(fs) as (p: string, flags: string, mode: number | undefined, cb: (e: NodeJS.ErrnoException | null, fd: number) => void) => void;
    const fsync = fs.fsync.bind(fs);
    const spies = [
      jest.spyOn(fs, 'open').mockImplementation(((p: string, flags: string, mode: number | undefined, cb: (e: NodeJS.ErrnoException | null, fd: number) => void) =>
        open(p, flags, mode, (e, fd) => {
          if (!e) paths.set(fd, path.relative(root, String(p)) || '.');
          cb(e, fd);
        })) as unknown as typeof fs.open),
      jest.spyOn(fs, 'fsync').mockImplementation(((fd: number, cb: (e: NodeJS.ErrnoException | null) => void) =>
        fsync(fd, (e) => {
          if (!e) synced.push(paths.get(fd)!);
          cb(e);
        })) as typeof fs.fsync),
    ];
    try {
      const store = new FolderObjectStore(path.join(root, 'archive'), 'archive');
      await store.put('bank/s1/4.svarc.gz', new Uint8Array([1, 2, 3]));
      expect(synced[0]).toMatch(/^archive\/bank\/s1\/4\.svarc\.gz\.[0-9a-f]{16}\.tmp$/); // the data, before the rename
      expect(synced.slice(1)).toEqual(['archive/bank/s1', 'archive/bank', 'archive', '.']);
      synced.length = 0;
      await store.put('bank/s1/5.svarc.gz', new Uint8Array([4]));
      expect(synced.slice(1)).toEqual(['archive/bank/s1']); // no new folder: only the one that holds the rename
      expect([...(await store.get('bank/s1/5.svarc.gz'))!]).toEqual([4]);
    } finally {
      for (const spy of spies) spy.mockRestore();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('gives back what it was given, empty or several megabytes', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'sv-folder-'));
    try {
      const store = new FolderObjectStore(root, 'archive');
      const big = new Uint8Array(randomBytes(5 * 1024 * 1024 + 3));
      await store.put('t/s/1.svarc.gz', big);
      await store.put('t/s/2.svarc.gz', new Uint8Array(0));
      expect(Buffer.from((await store.get('t/s/1.svarc.gz'))!).equals(Buffer.from(big))).toBe(true);
      expect((await store.get('t/s/2.svarc.gz'))!.length).toBe(0);
      expect(await store.get('t/s/3.svarc.gz')).toBeNull();
      expect(await store.list('t/s')).toEqual(['1.svarc.gz', '2.svarc.gz']); // no temporary file left
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
