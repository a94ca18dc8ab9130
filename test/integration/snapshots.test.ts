import { signSnapshot } from '../../src/audit';
import fc from 'fast-check';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { freshCompact, replay, replayCompact } from '../../src/replay';
import type { Vault } from '../../src/vault';
import { lastOf } from '../support/window-oracle';
import { sealSnapshot } from '../../src/events';
import { insertSnapshot, withTenant } from '../../src/store';

/**
 * State snapshots are derived data: the state read through them equals a full replay,
 * at the head and at any earlier point, whatever the events; a corrupted, forged or
 * deleted snapshot changes no result; verify names a snapshot off the chain; shredding
 * and purge remove them.
 */
afterAll(dropCreatedDatabases);

const text = fc.string({ maxLength: 12 });
const id = fc.constantFrom('c1', 'c2', 'c3');
const event = fc.oneof(
  fc.record({ type: fc.constant('message'), role: fc.constantFrom('user', 'assistant', 'system'), content: text, usage: fc.record({ promptTokens: fc.nat(50), completionTokens: fc.nat(50) }), costUsd: fc.constantFrom(0, 0.001, 0.25) }),
  fc.record({ type: fc.constant('tool_call'), callId: id, tool: fc.constantFrom('lookup', 'transfer'), input: fc.record({ n: fc.nat(9) }) }),
  fc.record({ type: fc.constant('tool_result'), callId: id, output: fc.record({ ok: fc.boolean() }), durationMs: fc.nat(100) }),
  fc.record({ type: fc.constant('state_patch'), scope: fc.constantFrom('tool', 'world'), patch: fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.oneof(fc.nat(9), fc.constant(null))) }),
  fc.record({ type: fc.constant('task'), task: fc.option(text) }),
  fc.record({ type: fc.constant('summary'), content: text, throughSeq: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ type: fc.constant('agent_item'), item: fc.record({ role: fc.constant('user'), content: text }) }),
  fc.integer({ min: 1, max: 40 }).chain((from) => fc.record({ type: fc.constant('retraction'), reason: fc.constantFrom('pop', 'clear'), fromSeq: fc.constant(from), toSeq: fc.integer({ min: from, max: from + 5 }) })),
);

describe.each(backends())('state snapshots on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  let now = Date.parse('2016-03-01T00:00:00Z'); // eight years on is still past: a purge is held to the database's clock
  let n = 0;
  const drain = () => (vault as any).deps.background.drain() as Promise<void>;
  const snapshotCount = async (tenant: string, session: string) =>
    ((await asOwner(vault, url, [{ text: 'SELECT count(*)::int AS n FROM snapshots WHERE tenant_id = $1 AND session_id = $2', values: [tenant, session] }]))[0] as { n: number }[])[0]!.n;
  const fullReplay = async (tenant: string, session: string, point = {}) => {
    const events = [];
    for await (const e of vault.session(tenant, session).events()) events.push(e);
    return replay({ tenant, session, agent: null }, events, point);
  };

  beforeAll(async () => {
    // No state held in memory (held-state.test.ts covers that): every read here goes through the snapshots.
    ({ vault, url, close } = await testVault(backend, { snapshotEvery: 4, stateCache: 0, clock: () => new Date((now += 1000)) }));
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  it('reads the same state through snapshots as a full replay, at the head and at every earlier point (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(event, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 6 }), async (batches) => {
        const session = `prop-${n++}`;
        const s = vault.session('bank', session);
        for (const b of batches) {
          await s.appendMany(b);
          await s.state(); // a read of the latest state seals a snapshot once 4 events behind
        }
        await drain();
        const head = batches.flat().length;
        if (head >= 4) expect(await snapshotCount('bank', session)).toBeGreaterThanOrEqual(1);
        expect(await s.state()).toEqual(await fullReplay('bank', session));
        for (const atSeq of [1, Math.ceil(head / 2), head - 1, head].filter((x) => x >= 0)) {
          expect(await s.state({ atSeq })).toEqual(await fullReplay('bank', session, { atSeq }));
        }
        const mid = (await s.state({ atSeq: Math.ceil(head / 2) })).lastAt!;
        expect(await s.state({ at: new Date(mid) })).toEqual(await fullReplay('bank', session, { at: new Date(mid) }));
      }),
      { numRuns: 15 },
    );
  });

  it('appends alone write no snapshot; a read of the latest state does, once enough events are behind', async () => {
    const s = vault.session('bank', 'lazy');
    await s.appendMany(Array.from({ length: 9 }, (_, i) => ({ type: 'task', task: `t${i}` })));
    await drain();
    expect(await snapshotCount('bank', 'lazy')).toBe(0);
    await s.state({ atSeq: 8 }); // a point in the past writes none
    await drain();
    expect(await snapshotCount('bank', 'lazy')).toBe(0);
    await s.state();
    await drain();
    expect(await snapshotCount('bank', 'lazy')).toBe(1);
    await s.append({ type: 'task', task: 'one more' });
    await s.state(); // 1 event behind the snapshot: none yet
    await drain();
    expect(await snapshotCount('bank', 'lazy')).toBe(1);
  });

  it('changes no result when every snapshot is deleted, corrupted or forged, and verify names each one changed', async () => {
    const s = vault.session('bank', 'tamper');
    await s.appendMany(Array.from({ length: 6 }, (_, i) => ({ type: 'message', role: 'user', content: `m${i}` })));
    await s.state();
    await drain();
    await s.appendMany(Array.from({ length: 4 }, (_, i) => ({ type: 'message', role: 'user', content: `n${i}` })));
    await s.state();
    await drain();
    expect(await s.snapshot()).toBe(10);
    expect(await snapshotCount('bank', 'tamper')).toBe(2); // at 6 and at 10
    const expected = await fullReplay('bank', 'tamper');
    expect(await s.state()).toEqual(expected);
    // A DBA flips a byte of the latest snapshot: it no longer opens and is ignored.
    await asOwner(vault, url, [{ text: `UPDATE snapshots SET ciphertext = overlay(ciphertext placing '\\xff'::bytea from 5 for 1) WHERE tenant_id = 'bank' AND session_id = 'tamper' AND seq = 10` }]);
    expect(await s.state()).toEqual(expected);
    // Another names a head the chain does not have: ignored by reads, named by verify.
    await asOwner(vault, url, [{ text: `UPDATE snapshots SET head_hash = '\\x${'00'.repeat(32)}'::bytea WHERE tenant_id = 'bank' AND session_id = 'tamper' AND seq = 6` }]);
    expect(await s.state({ atSeq: 9 })).toEqual(await fullReplay('bank', 'tamper', { atSeq: 9 }));
    // Both were signed by the vault: the signature no longer holds over either (since 0053).
    expect((await vault.verify({ tenant: 'bank', session: 'tamper' })).problems.map((p) => `${p.seq} ${p.kind}`)).toEqual(['6 snapshot_unsigned', '10 snapshot_unsigned', '6 snapshot_mismatch']);
    // Deleting them all (they are derived) changes nothing either.
    await asOwner(vault, url, [{ text: `DELETE FROM snapshots WHERE tenant_id = 'bank' AND session_id = 'tamper'` }]);
    expect(await s.state()).toEqual(expected);
    expect((await vault.verify({ tenant: 'bank', session: 'tamper' })).ok).toBe(true);
  });

  it('shredding and purge remove a session’s snapshots', async () => {
    const op = vault.operator({ actor: 'dpo', reason: 'GDPR art. 17' });
    for (const id of ['shred-me', 'purge-me']) {
      await vault.session('bank', id).appendMany(Array.from({ length: 8 }, (_, i) => ({ type: 'task', task: `t${i}` })));
      await vault.session('bank', id).state();
    }
    await drain();
    expect(await snapshotCount('bank', 'shred-me')).toBe(1);
    expect(await snapshotCount('bank', 'purge-me')).toBe(1);
    await op.shred('bank', 'shred-me');
    expect(await snapshotCount('bank', 'shred-me')).toBe(0);
    await op.archive('bank', 'purge-me');
    now += 8 * 366 * 86_400_000;
    await op.purge('bank', 'purge-me');
    expect(await snapshotCount('bank', 'purge-me')).toBe(0);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });
  describe('compact snapshots and windowed state', () => {
    let small: Vault;
    let closeSmall: () => Promise<void>;
    let smallUrl: string;
    const drainSmall = () => (small as any).deps.background.drain() as Promise<void>;
    const replayAll = async (session: string, point = {}) => {
      const events = [];
      for await (const e of small.session('bank', session).events()) events.push(e);
      return replay({ tenant: 'bank', session, agent: null }, events, point);
    };

    beforeAll(async () => {
      // Snapshots keep 3 entries a list: windows up to 3 are read off them.
      ({ vault: small, url: smallUrl, close: closeSmall } = await testVault(backend, { snapshotEvery: 3, snapshotWindow: 3, clock: () => new Date((now += 1000)) }));
      await small.createTenant('bank');
    });
    afterAll(() => closeSmall());

    it('reads the last N of each list as a full replay has them, now and at earlier points, and the full state unchanged (property)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(event, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 4 }), async (batches, size) => {
          const session = `win-${n++}`;
          const s = small.session('bank', session);
          for (const b of batches) {
            await s.appendMany(b);
            await s.state({ window: size }); // seals compact snapshots as it goes
            await drainSmall();
          }
          const head = batches.flat().length;
          expect(await s.state({ window: size })).toEqual(lastOf(await replayAll(session), size));
          // The landmarks read through the snapshots are those of a fold over every event.
          const all = [];
          for await (const e of s.events()) all.push(e);
          const folded = await replayCompact(freshCompact({ tenant: 'bank', session, agent: null }), all, {}, Number.MAX_SAFE_INTEGER);
          expect(await s.landmarks()).toEqual({ head, landmarks: folded!.landmarks });
          expect(await s.state()).toEqual(await replayAll(session));
          for (const atSeq of [1, Math.ceil(head / 2), head - 1].filter((x) => x >= 1)) {
            expect(await s.state({ atSeq, window: size })).toEqual(lastOf(await replayAll(session, { atSeq }), size));
          }
        }),
        { numRuns: 12 },
      );
    });

    it('keeps a snapshot the same size however long the session grows', async () => {
      const s = small.session('bank', 'long');
      const sizes: number[] = [];
      for (let round = 0; round < 4; round++) {
        await s.appendMany(Array.from({ length: 60 }, (_, i) => ({ type: 'message', role: 'user', content: `${round}-${i} ${'x'.repeat(200)}` })));
        await s.snapshot();
        const [rows] = await asOwner(small, smallUrl, [{ text: `SELECT length(ciphertext) AS n FROM snapshots WHERE tenant_id = 'bank' AND session_id = 'long' ORDER BY seq DESC LIMIT 1` }]);
        sizes.push((rows as { n: number }[])[0]!.n);
      }
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThan(64); // 3 messages' worth, not 60 × round
      const state = await s.state({ window: 2 });
      expect(state.messages.map((m) => m.seq)).toEqual([239, 240]);
      expect(state.window).toEqual({ size: 2, omitted: { messages: 238, toolCalls: 0, agentItems: 0, modelErrors: 0 } });
      expect(await s.state({ window: 2 })).toEqual(lastOf(await replayAll('long'), 2));
    });

    it('seals snapshots sooner while a session is young: at the window, then doubling, then every snapshotEvery', async () => {
      const { vault: young, url: youngUrl, close: closeYoung } = await testVault(backend, { snapshotEvery: 40, snapshotWindow: 5 });
      try {
        await young.createTenant('bank');
        const s = young.session('bank', 'young');
        for (let i = 0; i < 130; i++) {
          await s.append({ type: 'message', role: 'user', content: `m${i}` });
          await s.state({ window: 2 }); // an agent reading its state every turn
          await (young as any).deps.background.drain();
        }
        const [rows] = await asOwner(young, youngUrl, [{ text: `SELECT seq::int AS seq FROM snapshots WHERE tenant_id = 'bank' AND session_id = 'young' ORDER BY seq` }]);
        expect((rows as { seq: number }[]).map((r) => r.seq)).toEqual([5, 10, 20, 40, 80, 120]);
      } finally {
        await closeYoung();
      }
    });

    it('does not take landmarks from a snapshot written before they were kept: it reads them from the events', async () => {
      const s = small.session('bank', 'old-format');
      await s.appendMany([{ type: 'message', role: 'system', content: 'You are the bank.' }, ...Array.from({ length: 9 }, (_, i) => ({ type: 'message', role: 'user', content: `m${i}` }))]);
      const full = await s.state();
      // As an older vault wrote it: the whole state, sealed at the head, no landmarks member.
      const deps = (small as any).deps;
      const opened = deps.cache.get('bank', 'old-format');
      const { landmarks: _dropped, ...old } = full as typeof full & { landmarks?: unknown };
      const sealed = sealSnapshot(JSON.stringify(old), { tenant: 'bank', session: 'old-format', seq: 10, at: new Date(full.lastAt!), headHash: Buffer.from(full.head!, 'hex') }, opened.dataKey);
      await asOwner(small, smallUrl, [{ text: `DELETE FROM snapshots WHERE tenant_id = 'bank' AND session_id = 'old-format'` }]);
      // Signed, as this vault signs its own (an unsigned one would be passed over: signed-reads.test.ts).
      const signed = { ...sealed, ...signSnapshot(sealed, await deps.signer()) };
      await withTenant(deps.store.db, 'bank', 'test', (tx) => insertSnapshot(tx, signed));
      expect(await s.state({ window: 2 })).toEqual(lastOf(await replayAll('old-format'), 2)); // the state still reads off it
      expect(await s.landmarks()).toEqual({ head: 10, landmarks: { system: [1], last: { message: 10 } } });
    });

    it('refuses a window that is not an integer 1..100000, changing nothing', async () => {
      for (const window of [0, -1, 1.5, 100_001, Number.NaN]) {
        await expect(small.session('bank', 'long').state({ window })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      }
    });
  });
});
