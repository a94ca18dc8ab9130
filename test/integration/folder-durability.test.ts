import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
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
    const open = fs.open.bind(fs);
    const spy = jest.spyOn(fs, 'open').mockImplementation(async (p: any, flags?: any, mode?: any) => {
      const handle = await open(p, flags, mode);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        await sync();
        synced.push(path.relative(root, String(p)) || '.');
      };
      return handle;
    });
    try {
      const store = new FolderObjectStore(path.join(root, 'archive'), 'archive');
      await store.put('bank/s1/4.svarc.gz', new Uint8Array([1, 2, 3]));
      expect(synced[0]).toMatch(/^archive\/bank\/s1\/4\.svarc\.gz\.\d+\.\d+\.tmp$/); // the data, before the rename
      expect(synced.slice(1)).toEqual(['archive/bank/s1', 'archive/bank', 'archive', '.']);
      synced.length = 0;
      await store.put('bank/s1/5.svarc.gz', new Uint8Array([4]));
      expect(synced.slice(1)).toEqual(['archive/bank/s1']); // no new folder: only the one that holds the rename
      expect([...(await store.get('bank/s1/5.svarc.gz'))!]).toEqual([4]);
    } finally {
      spy.mockRestore();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
