import { verifyBundle } from '../../src/audit';
import * as store from '../../src/store';
import type { Vault } from '../../src/vault';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';

/**
 * `verify` on a vault in use: agents append, a checkpoint run signs heads, an operator
 * archives a session, the legal desk sets and clears a hold, all while verify reads; and
 * an export of a session its agent goes on appending to. Before, it held each session to the head
 * its listing read (a page of 500 sessions at once), and named what moved since as
 * tampering (`head_mismatch`, `unsigned_tail`, `checkpoint_beyond_head`, `session_missing`;
 * a hold's record read without its row, `hold_missing`), exit 1 on a sound vault. What it must still name: a tail a DBA cuts meanwhile.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())('verify while the vault is in use, with a $name database', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  const sessions = Array.from({ length: 12 }, (_, i) => `claim-${i}`);

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend));
    await vault.createTenant('bank');
    for (const s of sessions) await vault.session('bank', s).appendMany([{ type: 'message', role: 'user', content: 'hello' }, { type: 'task', task: 'triage' }]);
    await vault.checkpoint();
  });
  afterAll(() => close());

  it('names nothing on a sound vault whose sessions are appended to, checkpointed, archived and created while it runs', async () => {
    for (let round = 0; round < 3; round++) {
      let running = true;
      const work = (async () => {
        let n = 0;
        while (running) {
          const s = sessions[n % sessions.length]!;
          await vault.session('bank', s).append({ type: 'task', task: `step ${n}` });
          if (n % 3 === 0) await vault.checkpoint({ tenant: 'bank', session: sessions[(n + 5) % sessions.length]! });
          if (n % 7 === 0) await vault.session('bank', `new-${round}-${n}`).append({ type: 'task', task: 'opened' }).then(() => vault.checkpoint({ tenant: 'bank', session: `new-${round}-${n}` }));
          n++;
        }
        return n;
      })();
      // An operator archives two sessions meanwhile (their next appends restore them).
      const archiving = Promise.all([sessions[3]!, sessions[9]!].map((s) => vault.operator({ actor: 'ops', reason: 'cold' }).archive('bank', s)));
      const report = await vault.verify();
      running = false;
      expect(await work).toBeGreaterThan(0);
      await archiving;
      expect(report.problems).toEqual([]);
    }
    expect((await vault.verify()).ok).toBe(true);
  });

  it('names nothing beside a legal desk setting and clearing a hold, and an operator rotating the tenant key', async () => {
    for (let round = 0; round < 4; round++) {
      let running = true;
      const legal = vault.operator({ actor: 'legal', reason: `case ${round}` });
      const work = (async () => {
        for (let n = 0; running; n++) {
          // The hold's row is stored just after its record: verify reads the holds first and the trail last.
          if (n % 2 === 0) await legal.setHold('bank', sessions[2]!);
          else await legal.clearHold('bank', sessions[2]!);
          if (n % 3 === 0) await vault.operator({ actor: 'sec', reason: 'rotation' }).rotateKey('bank');
        }
      })();
      const report = await vault.verify();
      running = false;
      await work;
      expect(report.problems).toEqual([]);
    }
  });

  it("exports a session its agent goes on appending to as a bundle the auditor's check passes, with or without plaintext", async () => {
    const s = sessions[4]!;
    for (let round = 0; round < 4; round++) {
      let running = true;
      const work = (async () => {
        for (let n = 0; running; n++) await vault.session('bank', s).append({ type: 'task', task: `more ${round}.${n}` });
      })();
      const bundle = await vault.operator({ actor: 'audit-desk', reason: 'examination' }).export('bank', s, { decrypt: round % 2 === 1 });
      running = false;
      await work;
      // Before: checkpoints past the bundle's last event, more plaintext than sealed events, a latest state not the replay.
      expect((await verifyBundle(JSON.parse(JSON.stringify(bundle)))).problems).toEqual([]);
    }
  });

  it('exports a session archived while the export reads it: read again, from the archive', async () => {
    const s = sessions[6]!;
    const real = store.readPage;
    let archived = false;
    let reads = 0;
    jest.spyOn(store, 'readPage').mockImplementation(async (...args: Parameters<typeof store.readPage>) => {
      // The first read of the session's pages is the export's verify; the second its own, after it read the row active.
      if (!archived && args[2] === s && ++reads === 2) {
        archived = true; // its events leave the table before this read
        await vault.operator({ actor: 'ops', reason: 'cold' }).archive('bank', s);
      }
      return real(...args);
    });
    try {
      const bundle = await vault.operator({ actor: 'audit-desk', reason: 'examination' }).export('bank', s);
      expect(archived).toBe(true);
      expect((await verifyBundle(JSON.parse(JSON.stringify(bundle)))).problems).toEqual([]);
    } finally {
      jest.restoreAllMocks();
    }
  });

  it('still names a tail a DBA cut: a checkpoint past the head as it is now', async () => {
    const s = sessions[1]!;
    await vault.session('bank', s).appendMany([{ type: 'task', task: 'a' }, { type: 'task', task: 'b' }]);
    const w = `tenant_id = 'bank' AND session_id = '${s}'`;
    // The DBA deletes the session's last event and moves its head back, leaving its checkpoints.
    const [[head]] = (await asOwner(vault, url, [{ text: `SELECT head_seq::int AS seq FROM sessions WHERE ${w}` }])) as [{ seq: number }[]];
    await asOwner(vault, url, [
      { text: `DELETE FROM events WHERE ${w} AND seq = ${head!.seq}` },
      { text: `UPDATE sessions SET head_seq = ${head!.seq - 1}, head_hash = (SELECT hash FROM events WHERE ${w} AND seq = ${head!.seq - 1}), last_at = (SELECT at FROM events WHERE ${w} AND seq = ${head!.seq - 1}) WHERE ${w}` },
    ]);
    expect((await vault.verify({ tenant: 'bank', session: s })).problems).toEqual([{ tenant: 'bank', session: s, seq: head!.seq, kind: 'checkpoint_beyond_head' }]);
  });
});
