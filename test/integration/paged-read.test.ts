import { backends, dropCreatedDatabases, testVault } from '../support/backends';

/**
 * A full read (replay, export, verify) fetches the next page while its consumer works
 * through the current one. The consumer decrypts and folds without a break, so unless the
 * reader lets node's event loop turn now and then, the next page's bytes wait on the
 * socket, unread, and the server stops sending (src/vault/read.ts, piecesOf).
 * Shown without a clock: a consumer that never awaits anything of its own counts the turns
 * of the event loop that pass while it reads a page.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())('a paged read on $name', (backend) => {
  it('lets the event loop turn within a page while the next is fetched, and hands out every event in order', async () => {
    const { vault, close } = await testVault(backend, { pageSize: 100 });
    try {
      await vault.createTenant('bank');
      const s = vault.session('bank', 'long');
      // About 4 KB of ciphertext an event (padded to 4,096 bytes and the tag): 128 KiB is handed out every 32 events.
      await s.appendMany(Array.from({ length: 250 }, (_, i) => ({ type: 'message', role: 'user', content: `${i} ${'x'.repeat(4000)}` })));

      let turns = 0;
      let counting = true;
      const tick = () => {
        turns++;
        if (counting) setImmediate(tick);
      };
      setImmediate(tick);
      const seqs: number[] = [];
      const turnsAt: number[] = [];
      try {
        for await (const e of s.events()) {
          seqs.push(e.seq);
          turnsAt.push(turns);
        }
      } finally {
        counting = false;
      }

      expect(seqs).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
      // Within the first page (seqs 1-100, the second fetched meanwhile) and the second,
      // the loop turned: a consumer that is handed a page without a break sees none.
      expect(turnsAt[99]!).toBeGreaterThan(turnsAt[0]!);
      expect(turnsAt[199]!).toBeGreaterThan(turnsAt[100]!);

      // In arrays (what replay folds): each at most 128 KiB of ciphertext and the event
      // that crossed it (32 of these), cut within each page, the last one too; the loop
      // turns between two arrays of a page while the next page is fetched.
      turns = 0;
      counting = true;
      setImmediate(tick);
      const sizes: number[] = [];
      const firsts: number[] = [];
      const chunkTurns: number[] = [];
      try {
        for await (const chunk of s.events().chunks()) {
          sizes.push(chunk.length);
          firsts.push(chunk[0]!.seq);
          chunkTurns.push(turns);
        }
      } finally {
        counting = false;
      }
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(250);
      expect(Math.max(...sizes)).toBe(32);
      expect(firsts).toEqual([1, 33, 65, 97, 101, 133, 165, 197, 201, 233]);
      expect(chunkTurns[1]!).toBeGreaterThan(chunkTurns[0]!);
    } finally {
      await close();
    }
  });
});
