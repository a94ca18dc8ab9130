import fc from 'fast-check';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { countStatements, shredElsewhere } from '../support/elsewhere';
import type { Vault, VaultSession } from '../../src/vault';
import { contextEvents } from '../../src/integrations/openai/context-events';
import { slidingWindow, summaryPlusRecent, type ContextServices, type ContextStrategy } from '../../src/integrations/openai';
import type { VaultEvent } from '../../src/domain';

/**
 * A model context built from events this process holds (src/integrations/openai/
 * context-events.ts): after a build, the next one reads only the landmarks statement,
 * which brings the events appended since, checked against the chain. It never changes a
 * context: each equals the context built from every event; a database rewritten or
 * restored under it is read as it now is; a key shredded by another process is not read
 * past.
 */
afterAll(dropCreatedDatabases);

const text = fc.constantFrom('a', 'b', 'hello', '');
const callId = fc.constantFrom('c1', 'c2');
const event = fc.oneof(
  { weight: 5, arbitrary: fc.record({ type: fc.constant('message'), role: fc.constantFrom('user', 'user', 'assistant', 'assistant', 'system', 'developer'), content: text }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('tool_call'), callId, tool: fc.constant('lookup'), input: fc.record({ n: fc.nat(3) }) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('tool_result'), callId, output: fc.record({ ok: fc.boolean() }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('instructions'), systemPrompt: fc.option(text), facts: fc.array(text, { maxLength: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('summary'), content: text, throughSeq: fc.integer({ min: 1, max: 40 }) }) },
);

/** Summaries are deterministic, so two builds compare. */
const services = (): ContextServices => ({
  summarize: async (messages, previous) => `S(${previous ?? '-'}|${messages.map((m) => `${m.role}:${m.content}`).join(',')})`,
  recordSummary: async () => {},
});

async function everyEvent(s: VaultSession): Promise<VaultEvent[]> {
  const out: VaultEvent[] = [];
  for await (const e of s.events()) out.push(e);
  return out;
}

describe.each(backends())('a model context from held events on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let home: string;
  let close: () => Promise<void>;
  let n = 0;
  let statements: { readonly n: number };

  beforeAll(async () => {
    ({ vault, url, home, close } = await testVault(backend, { snapshotEvery: 4, snapshotWindow: 5 }));
    await vault.createTenant('bank');
    statements = countStatements(vault);
  });
  afterAll(() => close());

  const strategies: [string, () => ContextStrategy][] = [
    ['slidingWindow(2)', () => slidingWindow({ lastN: 2 })],
    ['summaryPlusRecent(2, 3)', () => summaryPlusRecent({ keepRecent: 2, summarizeAfter: 3 })],
  ];

  it.each(strategies)('%s: each build equals the one from every event, and most take one statement (property)', async (_name, make) => {
    let builds = 0;
    let oneStatement = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(event, { maxLength: 4 }), { minLength: 1, maxLength: 6 }), async (turns) => {
        const s = vault.session('bank', `prop-${n++}`);
        await s.append({ type: 'message', role: 'user', content: 'open' });
        for (const turn of turns) {
          if (turn.length > 0) await s.appendMany(turn);
          const strategy = make();
          const before = statements.n;
          const part = await contextEvents(s, strategy.reach);
          builds++;
          if (statements.n - before === 1) oneStatement++;
          expect(await strategy.build({ events: part }, services())).toEqual(await make().build({ events: await everyEvent(s) }, services()));
        }
      }),
      { numRuns: 15 },
    );
    expect(oneStatement).toBeGreaterThan(builds / 3); // the held events were used, not bypassed
  });

  it('a caller changing what it was given changes nothing held', async () => {
    const s = vault.session('bank', 'meddled');
    await s.appendMany([{ type: 'message', role: 'user', content: 'hi' }, { type: 'message', role: 'assistant', content: 'hello' }]);
    const reach = slidingWindow({ lastN: 2 }).reach;
    for (let i = 0; i < 3; i++) {
      const before = statements.n;
      const got = await contextEvents(s, reach); // the first from the database, then from memory
      if (i > 0) expect(statements.n - before).toBe(1);
      expect(got.map((e) => (e.data as { content: string }).content)).toEqual(['hi', 'hello']);
      for (const e of got) (e.data as { content: string }).content = 'changed';
    }
  });

  it('reads a database restored to an earlier point as it now is, not as it held it', async () => {
    const s = vault.session('bank', 'restored');
    await s.appendMany(Array.from({ length: 6 }, (_, i) => ({ type: 'message', role: i % 2 ? 'assistant' : 'user', content: `m${i}` })));
    const reach = slidingWindow({ lastN: 10 }).reach;
    expect((await contextEvents(s, reach)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]); // held up to 6
    await asOwner(vault, url, [
      { text: `DELETE FROM events WHERE tenant_id = 'bank' AND session_id = 'restored' AND seq > 4` },
      { text: `DELETE FROM checkpoints WHERE tenant_id = 'bank' AND session_id = 'restored' AND seq > 4` },
      { text: `DELETE FROM snapshots WHERE tenant_id = 'bank' AND session_id = 'restored'` },
      { text: `UPDATE sessions SET head_seq = 4, head_hash = (SELECT hash FROM events WHERE tenant_id = 'bank' AND session_id = 'restored' AND seq = 4) WHERE tenant_id = 'bank' AND session_id = 'restored'` },
    ]);
    expect((await contextEvents(s, reach)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    await s.append({ type: 'message', role: 'user', content: 'after the restore' });
    expect((await contextEvents(s, reach)).map((e) => (e.data as { content: string }).content)).toEqual(['m0', 'm1', 'm2', 'm3', 'after the restore']);
  });

  it('does not join held events to a chain that was restored and written again past them', async () => {
    const s = vault.session('bank', 'rewound');
    await s.appendMany(Array.from({ length: 6 }, (_, i) => ({ type: 'message', role: i % 2 ? 'assistant' : 'user', content: `m${i}` })));
    const reach = slidingWindow({ lastN: 10 }).reach;
    await contextEvents(s, reach); // holds events 1..6
    const kept = s.heldEvents()!;
    await asOwner(vault, url, [
      { text: `DELETE FROM events WHERE tenant_id = 'bank' AND session_id = 'rewound' AND seq > 4` },
      { text: `DELETE FROM checkpoints WHERE tenant_id = 'bank' AND session_id = 'rewound' AND seq > 4` },
      { text: `DELETE FROM snapshots WHERE tenant_id = 'bank' AND session_id = 'rewound'` },
      { text: `UPDATE sessions SET head_seq = 4, head_hash = (SELECT hash FROM events WHERE tenant_id = 'bank' AND session_id = 'rewound' AND seq = 4) WHERE tenant_id = 'bank' AND session_id = 'rewound'` },
    ]);
    await s.appendMany(['x4', 'x5', 'x6'].map((content) => ({ type: 'message', role: 'user', content }))); // seqs 5..7 again, other events
    // This append found the head moved and forgot what it held; a writer elsewhere would not have made it forget.
    s.holdEvents(kept.events);
    expect((await contextEvents(s, reach)).map((e) => (e.data as { content: string }).content)).toEqual(['m0', 'm1', 'm2', 'm3', 'x4', 'x5', 'x6']);
  });

  it('does not answer from held events when a DBA rewrote the last one', async () => {
    const s = vault.session('bank', 'rewritten');
    await s.appendMany(Array.from({ length: 6 }, (_, i) => ({ type: 'message', role: 'user', content: `m${i}` })));
    await contextEvents(s, slidingWindow({ lastN: 3 }).reach); // holds events 3..6
    await asOwner(vault, url, [
      { text: `UPDATE events e SET ciphertext = f.ciphertext, nonce = f.nonce, hash = f.hash FROM events f WHERE e.tenant_id = 'bank' AND e.session_id = 'rewritten' AND e.seq = 6 AND f.tenant_id = e.tenant_id AND f.session_id = e.session_id AND f.seq = 5` },
      { text: `UPDATE sessions SET head_hash = (SELECT hash FROM events WHERE tenant_id = 'bank' AND session_id = 'rewritten' AND seq = 6) WHERE tenant_id = 'bank' AND session_id = 'rewritten'` },
    ]);
    // The rewritten head is one no trusted key signed: refused before any event is opened.
    await expect(contextEvents(s, slidingWindow({ lastN: 3 }).reach)).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
  });

  it('does not build past a key another process shredded, though it held the key and the events', async () => {
    const id = `erased-${n++}`;
    const s = vault.session('bank', id);
    await s.appendMany(Array.from({ length: 6 }, (_, i) => ({ type: 'message', role: 'user', content: `secret ${i}` })));
    const reach = slidingWindow({ lastN: 2 }).reach;
    await contextEvents(s, reach);
    const before = statements.n;
    expect(await contextEvents(s, reach)).toHaveLength(3);
    expect(statements.n - before).toBe(1); // from memory: what the shred must not leave readable
    await shredElsewhere(vault, { backend: backend.name, home, url }, 'bank', id);
    await expect(contextEvents(s, reach)).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    expect(s.heldEvents()).toBeUndefined();
  });

  it('refuses a since that is not an event, reading nothing', async () => {
    const s = vault.session('bank', 'meddled');
    for (const since of [{ seq: 0, hash: 'ab' }, { seq: 1.5, hash: 'ab' }, { seq: 1, hash: 7 }] as { seq: number; hash: string }[]) {
      const before = statements.n;
      await expect(s.landmarks(since)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect(statements.n).toBe(before);
    }
  });

  it('holds nothing with stateCache 0', async () => {
    const t = await testVault(backend, { stateCache: 0 });
    try {
      await t.vault.createTenant('bank');
      const s = t.vault.session('bank', 'plain');
      await s.appendMany([{ type: 'message', role: 'user', content: 'hi' }, { type: 'message', role: 'assistant', content: 'hello' }]);
      await contextEvents(s, slidingWindow({ lastN: 2 }).reach);
      expect(s.heldEvents()).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});
