import fc from 'fast-check';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { shredElsewhere } from '../support/elsewhere';
import type { Vault, VaultSession } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { replay } from '../../src/replay';
import type { Statement } from '../../src/store/statement';

/**
 * The latest state a process holds in memory (src/vault/session-cache.ts): the next read
 * of the session asks only for the events after it. It never changes a result: reads
 * through it equal reads that hold nothing, whatever the events; a caller changing what
 * it was given changes nothing held; a database rewritten or restored under it is read as
 * it now is; a key shredded by another process is not read past.
 */
afterAll(dropCreatedDatabases);

const text = fc.string({ maxLength: 12 });
const id = fc.constantFrom('c1', 'c2');
const event = fc.oneof(
  fc.record({ type: fc.constant('message'), role: fc.constantFrom('user', 'assistant', 'system'), content: text, usage: fc.record({ promptTokens: fc.nat(50), completionTokens: fc.nat(50) }) }),
  fc.record({ type: fc.constant('tool_call'), callId: id, tool: fc.constantFrom('lookup', 'transfer'), input: fc.record({ n: fc.nat(9) }) }),
  fc.record({ type: fc.constant('tool_result'), callId: id, output: fc.record({ ok: fc.boolean() }), durationMs: fc.nat(100) }),
  fc.record({ type: fc.constant('state_patch'), scope: fc.constantFrom('tool', 'world'), patch: fc.dictionary(fc.constantFrom('a', 'b'), fc.oneof(fc.nat(9), fc.constant(null))) }),
  fc.record({ type: fc.constant('task'), task: fc.option(text) }),
  fc.record({ type: fc.constant('agent_item'), item: fc.record({ role: fc.constant('user'), content: text }) }),
  fc.integer({ min: 1, max: 30 }).chain((from) => fc.record({ type: fc.constant('retraction'), reason: fc.constantFrom('pop', 'clear'), fromSeq: fc.constant(from), toSeq: fc.integer({ min: from, max: from + 4 }) })),
);

/** Counts, on the vault's store, state reads that caught a held state up (session_vault_read_since) and those that read from a snapshot or the start. */
function countHeldReads(vault: Vault): { readonly held: number; readonly whole: number } {
  const store = storeOf(vault);
  const run = store.run.bind(store);
  const seen = { held: 0, whole: 0 };
  store.run = async <R,>(statement: Statement, values: readonly unknown[]): Promise<R[]> => {
    const rows = await run<R>(statement, values);
    if (statement.name.startsWith('session_vault_read_since')) seen.held++;
    else if (statement.name.startsWith('session_vault_state_read')) seen.whole++;
    return rows;
  };
  return seen;
}

describe.each(backends())('the latest state held in memory on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let home: string;
  let close: () => Promise<void>;
  let now = Date.parse('2026-03-01T00:00:00Z');
  let n = 0;
  let reads: { readonly held: number; readonly whole: number };
  const drain = () => (vault as any).deps.background.drain() as Promise<void>;
  const fullReplay = async (tenant: string, session: string) => {
    const events = [];
    for await (const e of vault.session(tenant, session).events()) events.push(e);
    return replay({ tenant, session, agent: null }, events);
  };

  beforeAll(async () => {
    ({ vault, url, home, close } = await testVault(backend, { snapshotEvery: 4, snapshotWindow: 5, clock: () => new Date((now += 1000)) }));
    await vault.createTenant('bank');
    reads = countHeldReads(vault);
  });
  afterAll(() => close());

  it('reads what a reader holding nothing reads, whatever the events and windows, even when the caller changes what it was given (property)', async () => {
    const before = reads.held;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ events: fc.array(event, { minLength: 1, maxLength: 4 }), window: fc.constantFrom(undefined, 1, 3, 5, 8), meddle: fc.boolean() }), { minLength: 1, maxLength: 8 }),
        async (turns) => {
          const s = vault.session('bank', `prop-${n++}`);
          for (const turn of turns) {
            await s.appendMany(turn.events);
            const options = turn.window === undefined ? {} : { window: turn.window };
            const got = await s.state(options);
            // A point read never uses the held state: it is the reader holding nothing.
            expect(got).toEqual(await s.state({ ...options, atSeq: got.lastSeq }));
            if (turn.meddle) {
              got.messages.push({ seq: 999, role: 'user', content: 'forged', at: '', correlationId: '' });
              for (const m of got.messages) m.content = 'changed';
              for (const c of got.toolCalls) c.output = 'changed';
              got.usage.promptTokens += 1000;
              got.toolState.injected = true;
            }
            await drain();
          }
          expect(await s.state()).toEqual(await fullReplay('bank', s.id));
        },
      ),
      { numRuns: 20 },
    );
    expect(reads.held - before).toBeGreaterThan(20); // the held states were used, not bypassed
  });

  it('answers reads at once, each as of its own head', async () => {
    const s = vault.session('bank', 'busy');
    await s.appendMany(Array.from({ length: 12 }, (_, i) => ({ type: 'message', role: 'user', content: `m${i}` })));
    const got = await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        if (i % 4 === 0) await s.append({ type: 'message', role: 'assistant', content: `a${i}` });
        return s.state({ window: 3 });
      }),
    );
    for (const g of got) expect(g).toEqual(await s.state({ window: 3, atSeq: g.lastSeq }));
  });

  it('replays in full when a retraction reaches part of what the held state left out', async () => {
    const s = vault.session('bank', 'retracted');
    await s.appendMany(Array.from({ length: 20 }, (_, i) => ({ type: 'message', role: 'user', content: `m${i}` })));
    await s.state({ window: 3 }); // holds the last 5 (snapshotWindow) of each list: messages 1..15 left out
    await s.append({ type: 'retraction', reason: 'pop', fromSeq: 10, toSeq: 17 });
    const got = await s.state({ window: 3 });
    expect(got).toEqual(await s.state({ window: 3, atSeq: 21 }));
    expect(got.messages.map((m) => m.seq)).toEqual([18, 19, 20]);
    expect(got.window!.omitted.messages).toBe(9); // 1..9: what the retraction left
  });

  it('reads a database restored to an earlier point as it now is, not as it held it', async () => {
    const s = vault.session('bank', 'restored');
    await s.appendMany(Array.from({ length: 6 }, (_, i) => ({ type: 'message', role: 'user', content: `m${i}` })));
    const atFour = await s.state({ atSeq: 4 });
    await s.state(); // holds the state at 6
    // The DBA restores the session to seq 4: the later events, checkpoints and snapshots go; the head goes back.
    await asOwner(vault, url, [
      { text: `DELETE FROM events WHERE tenant_id = 'bank' AND session_id = 'restored' AND seq > 4` },
      { text: `DELETE FROM checkpoints WHERE tenant_id = 'bank' AND session_id = 'restored' AND seq > 4` },
      { text: `DELETE FROM snapshots WHERE tenant_id = 'bank' AND session_id = 'restored'` },
      { text: `UPDATE sessions SET head_seq = 4, head_hash = (SELECT hash FROM events WHERE tenant_id = 'bank' AND session_id = 'restored' AND seq = 4) WHERE tenant_id = 'bank' AND session_id = 'restored'` },
    ]);
    expect(await s.state()).toEqual(atFour);
  });

  it('does not answer from a held state whose last event a DBA rewrote', async () => {
    const s = vault.session('bank', 'rewritten');
    await s.appendMany(Array.from({ length: 6 }, (_, i) => ({ type: 'message', role: 'user', content: `m${i}` })));
    await s.state(); // holds the state at 6
    // The DBA puts event 5's sealed content and hash at 6, and makes the session's head agree.
    await asOwner(vault, url, [
      { text: `UPDATE events e SET ciphertext = f.ciphertext, nonce = f.nonce, hash = f.hash FROM events f WHERE e.tenant_id = 'bank' AND e.session_id = 'rewritten' AND e.seq = 6 AND f.tenant_id = e.tenant_id AND f.session_id = e.session_id AND f.seq = 5` },
      { text: `UPDATE sessions SET head_hash = (SELECT hash FROM events WHERE tenant_id = 'bank' AND session_id = 'rewritten' AND seq = 6) WHERE tenant_id = 'bank' AND session_id = 'rewritten'` },
    ]);
    // The held state no longer sits on the chain; read without it, the rewritten head is one
    // no trusted key signed, refused before any event is opened (the moved row would not open at seq 6 either).
    await expect(s.state()).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
  });

  it.each([
    ['the latest state', (s: VaultSession) => s.state()],
    ['a windowed state', (s: VaultSession) => s.state({ window: 2 })],
    ['the events', async (s: VaultSession) => {
      for await (const _ of s.events()) void _;
    }],
    ['the tail', (s: VaultSession) => s.tail(3)],
    ['events by seq', (s: VaultSession) => s.eventsAt([2])],
    ['the events backward', async (s: VaultSession) => {
      for await (const _ of s.eventsBackward()) void _;
    }],
  ])('does not read %s past a key another process shredded, though it held the key and the state', async (_, read) => {
    const id = `erased-${n++}`;
    const s = vault.session('bank', id);
    await s.appendMany(Array.from({ length: 6 }, (_, i) => ({ type: 'message', role: 'user', content: `secret ${i}` })));
    expect((await s.state()).messages).toHaveLength(6); // holds the data key and the state
    expect((await s.tail(2)).events).toHaveLength(2);
    await shredElsewhere(vault, { backend: backend.name, home, url }, 'bank', id);
    await expect(read(s)).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
  });

  it('holds nothing with stateCache 0: every read gets the snapshot', async () => {
    const t = await testVault(backend, { snapshotEvery: 4, stateCache: 0 });
    try {
      await t.vault.createTenant('bank');
      const seen = countHeldReads(t.vault);
      const s = t.vault.session('bank', 'plain');
      for (let i = 0; i < 4; i++) {
        await s.appendMany(Array.from({ length: 5 }, (_, j) => ({ type: 'task', task: `t${i}.${j}` })));
        await s.state();
      }
      expect(seen).toEqual({ held: 0, whole: 4 });
    } finally {
      await t.close();
    }
  });
});
