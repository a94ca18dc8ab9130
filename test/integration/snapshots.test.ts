import fc from 'fast-check';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { replay } from '../../src/replay';
import type { Vault } from '../../src/vault';

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
  fc.record({ type: fc.constant('message'), role: fc.constantFrom('user', 'assistant'), content: text, usage: fc.record({ promptTokens: fc.nat(50), completionTokens: fc.nat(50) }), costUsd: fc.constantFrom(0, 0.001, 0.25) }),
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
  let now = Date.parse('2026-03-01T00:00:00Z');
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
    ({ vault, url, close } = await testVault(backend, { snapshotEvery: 4, clock: () => new Date((now += 1000)) }));
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

  it('changes no result when every snapshot is deleted, corrupted or forged, and verify names one off the chain', async () => {
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
    expect((await vault.verify({ tenant: 'bank', session: 'tamper' })).problems).toEqual([{ tenant: 'bank', session: 'tamper', seq: 6, kind: 'snapshot_mismatch' }]);
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
    expect((await vault.verify({ tenant: 'bank' })).ok).toBe(true);
  });
});
