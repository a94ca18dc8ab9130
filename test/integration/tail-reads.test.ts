import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { storeOf } from '../../src/vault/vault';
import { sql } from 'drizzle-orm';
import type { Vault } from '../../src/vault';

/**
 * The one-round-trip reads (`tail`, `eventsAt`, through session_vault_read) check what
 * they show as the paged reads do, performed as the attacker: a DBA rewriting, swapping
 * or removing rows with triggers off, and the application role reaching for another
 * tenant through the function.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())('tail and eventsAt under attack on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  const where = (s: string, seq: number) => `tenant_id = 'bank' AND session_id = '${s}' AND seq = ${seq}`;
  const fill = (s: string) => vault.session('bank', s).appendMany(Array.from({ length: 12 }, (_, i) => ({ type: 'task', task: `step ${i + 1}` })));

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend));
    await vault.createTenant('bank');
    await vault.createTenant('other');
  });
  afterAll(() => close());

  it('reads the last events and particular ones, with the head, in seq order', async () => {
    await fill('plain');
    const tail = await vault.session('bank', 'plain').tail(3);
    expect(tail.head).toBe(12);
    expect(tail.events.map((e) => [e.seq, e.data.task])).toEqual([[10, 'step 10'], [11, 'step 11'], [12, 'step 12']]);
    const at = await vault.session('bank', 'plain').eventsAt([7, 1, 99]);
    expect(at.events.map((e) => e.seq)).toEqual([1, 7]);
    expect((await vault.session('bank', 'plain').tail(100)).events).toHaveLength(12);
    expect(await vault.session('bank', 'nothing-here').tail(5)).toEqual({ head: 0, events: [] });
    await expect(vault.session('bank', 'plain').tail(0)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(vault.session('bank', 'plain').eventsAt([0])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(vault.session('bank', 'plain').eventsAt(Array.from({ length: 1001 }, (_, i) => i + 1))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(vault.session('bank', 'plain').eventsBackward(0).next()).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(() => vault.session('bank', 'plain').events({ fromSeq: 5, toSeq: 4 })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    const newestFirst = [];
    for await (const e of vault.session('bank', 'plain').eventsBackward(2)) newestFirst.push(e.seq);
    expect(newestFirst).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    const bounded = [];
    for await (const e of vault.session('bank', 'plain').events({ fromSeq: 4, toSeq: 6 })) bounded.push(e.seq);
    expect(bounded).toEqual([4, 5, 6]);
  });

  it('a rewritten clear column of the head row is refused, not shown', async () => {
    await fill('rewritten');
    await asOwner(vault, url, [{ text: `UPDATE events SET correlation_id = 'forged' WHERE ${where('rewritten', 12)}` }]);
    await expect(vault.session('bank', 'rewritten').tail(2)).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
  });

  it('a ciphertext moved in from another row does not open', async () => {
    await fill('moved');
    await asOwner(vault, url, [
      { text: `UPDATE events SET (nonce, ciphertext) = (SELECT nonce, ciphertext FROM events WHERE ${where('moved', 3)}) WHERE ${where('moved', 8)}` },
    ]);
    await expect(vault.session('bank', 'moved').eventsAt([8])).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
  });

  it('a removed row below a wanted one, or a rewound head, is CHAIN_BROKEN', async () => {
    await fill('removed');
    await asOwner(vault, url, [{ text: `DELETE FROM events WHERE ${where('removed', 5)}` }]);
    await expect(vault.session('bank', 'removed').eventsAt([6])).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
    await fill('rewound');
    // The head row gone and the session's head moved back to seq 11 without its hash: the tail does not pass it off.
    await asOwner(vault, url, [
      { text: `DELETE FROM events WHERE ${where('rewound', 12)}` },
      { text: `UPDATE sessions SET head_seq = 11 WHERE tenant_id = 'bank' AND session_id = 'rewound'` },
    ]);
    await expect(vault.session('bank', 'rewound').tail(2)).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
  });

  it.each([
    ['session_vault_read', sql`SELECT * FROM session_vault_read('other', 'secret', 5, '{}'::bigint[])`],
    ['session_vault_read_keyed', sql`SELECT * FROM session_vault_read_keyed('other', 'secret', 5, '{}'::bigint[])`],
    ['session_vault_read_since', sql`SELECT * FROM session_vault_read_since('other', 'secret', 1, 5)`],
    ['session_vault_read_page', sql`SELECT * FROM session_vault_read_page('other', 'secret', 0, 5)`],
    ['session_vault_read_page_rows', sql`SELECT * FROM session_vault_read_page_rows('other', 'secret', 0, 5)`],
  ])("the application role cannot read another tenant's rows through %s from a transaction scoped to its own", async (_, statement) => {
    await vault.session('other', 'secret').append({ type: 'task', task: 'not yours' });
    const attack = storeOf(vault).db.transaction(async (tx) => {
      await tx.execute(sql`SELECT set_config('vault.tenant', 'bank', true)`);
      return tx.execute(statement);
    });
    await expect(attack).rejects.toThrow();
    const refused = await attack.catch((e: { cause?: { message?: string }; message?: string }) => e.cause?.message ?? e.message);
    expect(refused).toMatch(/scoped to another tenant/);
  });

  describe('the events after one held, read in one statement (eventsSince, session_vault_read_since)', () => {
    const heldAt = async (s: string, seq: number) => {
      const e = (await vault.session('bank', s).eventsAt([seq])).events[0]!;
      return { seq: e.seq, hash: e.hash };
    };

    it('returns the events after the held one, checked, with the head; none when it is the head', async () => {
      await fill('since');
      const since = await vault.session('bank', 'since').eventsSince(await heldAt('since', 9));
      expect(since?.head).toBe(12);
      expect(since?.events.map((e) => [e.seq, e.data.task])).toEqual([[10, 'step 10'], [11, 'step 11'], [12, 'step 12']]);
      expect(await vault.session('bank', 'since').eventsSince(await heldAt('since', 12))).toEqual({ head: 12, events: [] });
      // A hash the chain does not run through (a database restored, a row rewritten): nothing from it.
      expect(await vault.session('bank', 'since').eventsSince({ seq: 9, hash: '00'.repeat(32) })).toBeNull();
      expect(await vault.session('bank', 'since').eventsSince({ seq: 40, hash: '00'.repeat(32) })).toBeNull();
      await expect(vault.session('bank', 'since').eventsSince({ seq: 0, hash: 'x' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(vault.session('bank', 'nothing-here').eventsSince({ seq: 1, hash: '00'.repeat(32) })).rejects.toMatchObject({ code: 'UNKNOWN_SESSION' });
    });

    it('leaves the caller to read another way (null) when more than a page came since, or the session was archived', async () => {
      const { vault: paged, close: closePaged } = await testVault(backend, { pageSize: 3 });
      try {
        await paged.createTenant('bank');
        const s = paged.session('bank', 'paged');
        await s.appendMany(Array.from({ length: 12 }, (_, i) => ({ type: 'task', task: `step ${i + 1}` })));
        const at = async (seq: number) => (await s.eventsAt([seq])).events[0]!;
        expect((await s.eventsSince(await at(9)))?.events.map((e) => e.seq)).toEqual([10, 11, 12]); // a page
        expect(await s.eventsSince(await at(8))).toBeNull(); // four: more than a page
      } finally {
        await closePaged();
      }
      await fill('since-archived');
      const held = await heldAt('since-archived', 10);
      const state = await vault.session('bank', 'since-archived').state(); // a held state too
      await vault.operator({ actor: 'ops', reason: 'test' }).archive('bank', 'since-archived');
      expect(await vault.session('bank', 'since-archived').eventsSince(held)).toBeNull();
      expect(await vault.session('bank', 'since-archived').state()).toEqual(state); // read from the archive instead
    });

    it('a purged session returns nothing from what a reader held, and says its key is gone', async () => {
      let now = Date.parse('2000-01-01T00:00:00Z'); // twenty years on is still past: a purge is held to the database's clock
      const { vault: aged, close: closeAged } = await testVault(backend, { clock: () => new Date(now) });
      try {
        await aged.createTenant('bank');
        const s = aged.session('bank', 'since-purged');
        await s.appendMany(Array.from({ length: 4 }, (_, i) => ({ type: 'task', task: `step ${i + 1}` })));
        const held = (await s.eventsAt([3])).events[0]!;
        const o = aged.operator({ actor: 'ops', reason: 'test' });
        await o.archive('bank', 'since-purged');
        now += 20 * 365 * 24 * 3600 * 1000; // past any retain period
        await o.purge('bank', 'since-purged');
        // The purge branch of eventsSince: null (no rows), never the held events again.
        expect(await s.eventsSince({ seq: held.seq, hash: held.hash })).toBeNull();
        await expect(s.state()).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
      } finally {
        await closeAged();
      }
    });

    it('a DBA cutting the tail or rewinding the head gets CHAIN_BROKEN, and a row swapped in after the held one does not open', async () => {
      await fill('since-cut');
      const held = await heldAt('since-cut', 10);
      await asOwner(vault, url, [{ text: `DELETE FROM events WHERE ${where('since-cut', 12)}` }]);
      await expect(vault.session('bank', 'since-cut').eventsSince(held)).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
      await fill('since-rewound');
      const rewound = await heldAt('since-rewound', 10);
      await asOwner(vault, url, [
        { text: `DELETE FROM events WHERE ${where('since-rewound', 12)}` },
        { text: `UPDATE sessions SET head_seq = 11 WHERE tenant_id = 'bank' AND session_id = 'since-rewound'` },
      ]);
      await expect(vault.session('bank', 'since-rewound').eventsSince(rewound)).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
      await fill('since-swapped');
      const swapped = await heldAt('since-swapped', 10);
      await asOwner(vault, url, [
        { text: `UPDATE events SET (nonce, ciphertext) = (SELECT nonce, ciphertext FROM events WHERE ${where('since-swapped', 2)}) WHERE ${where('since-swapped', 11)}` },
      ]);
      await expect(vault.session('bank', 'since-swapped').eventsSince(swapped)).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
      await fill('since-dropped');
      const dropped = await heldAt('since-dropped', 10);
      // A row removed after the held one, the hashes after it left as they were: the chain does not run on.
      await asOwner(vault, url, [{ text: `DELETE FROM events WHERE ${where('since-dropped', 11)}` }]);
      await expect(vault.session('bank', 'since-dropped').eventsSince(dropped)).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
    });
  });

  describe('the latest state, read in one statement (session_vault_state_read)', () => {
    const windowed = (s: string) => vault.session('bank', s).state({ window: 3 });
    const snapshotNow = async (s: string) => {
      await fill(s);
      expect(await vault.session('bank', s).snapshot()).toBe(12);
      await vault.session('bank', s).appendMany([{ type: 'task', task: 'after the snapshot 1' }, { type: 'task', task: 'after the snapshot 2' }]);
    };

    it('reads the snapshot and the events after it, and the same state without the snapshot', async () => {
      await snapshotNow('st-fresh');
      const state = await windowed('st-fresh');
      expect([state.lastSeq, state.currentTask]).toEqual([14, 'after the snapshot 2']);
      await asOwner(vault, url, [{ text: `DELETE FROM snapshots WHERE tenant_id = 'bank' AND session_id = 'st-fresh'` }]);
      expect(await windowed('st-fresh')).toEqual(state);
    });

    it('a DBA cutting the tail, or rewriting a row after the snapshot, gets CHAIN_BROKEN or DECRYPTION_FAILED, not an older state', async () => {
      await snapshotNow('st-cut');
      // The newest row deleted, the session's head left as it was: the state does not quietly go back one event.
      await asOwner(vault, url, [{ text: `DELETE FROM events WHERE ${where('st-cut', 14)}` }]);
      await expect(windowed('st-cut')).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
      await snapshotNow('st-rewound');
      // And the head moved back with it, without its hash: the head row is not the head the session records.
      await asOwner(vault, url, [
        { text: `DELETE FROM events WHERE ${where('st-rewound', 14)}` },
        { text: `UPDATE sessions SET head_seq = 13 WHERE tenant_id = 'bank' AND session_id = 'st-rewound'` },
      ]);
      await expect(windowed('st-rewound')).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
      await snapshotNow('st-swapped');
      await asOwner(vault, url, [
        { text: `UPDATE events SET (nonce, ciphertext) = (SELECT nonce, ciphertext FROM events WHERE ${where('st-swapped', 2)}) WHERE ${where('st-swapped', 13)}` },
      ]);
      await expect(windowed('st-swapped')).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    });

    it.each([
      ['the first version', sql`SELECT * FROM session_vault_state_read('other', 'secret', 100::bigint, NULL::timestamptz, 10)`],
      ['the version for a reader holding a state', sql`SELECT * FROM session_vault_state_read('other', 'secret', 100::bigint, NULL::timestamptz, 10, 1::bigint)`],
    ])("the application role cannot read another tenant's session or snapshot through %s from a transaction scoped to its own", async (_, statement) => {
      const attack = storeOf(vault).db.transaction(async (tx) => {
        await tx.execute(sql`SELECT set_config('vault.tenant', 'bank', true)`);
        return tx.execute(statement);
      });
      await expect(attack).rejects.toThrow();
      const refused = await attack.catch((e: { cause?: { message?: string }; message?: string }) => e.cause?.message ?? e.message);
      expect(refused).toMatch(/scoped to another tenant/);
    });
  });
});
