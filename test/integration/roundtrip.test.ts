import fc from 'fast-check';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { withCorrelationId } from '../../src/observability';
import type { Vault } from '../../src/vault';
import { asOwner } from '../support/owner';

afterAll(dropCreatedDatabases);

const EVERY_TYPE = [
  { type: 'message', role: 'system', content: 'You are helpful.' },
  { type: 'message', role: 'user', content: 'Move $50 to savings', name: 'alice' },
  { type: 'tool_call', callId: 'call_1', tool: 'transfer', input: { from: 'chk', to: 'sav', amount: 50 } },
  { type: 'tool_result', callId: 'call_1', output: { ok: true, ref: 'T-1' }, summary: 'moved', durationMs: 81, isError: false },
  { type: 'message', role: 'tool', content: '{"ok":true}', toolCallId: 'call_1' },
  { type: 'state_patch', scope: 'tool', patch: { transfer: { last: 'T-1' } } },
  { type: 'state_patch', scope: 'world', patch: { balances: { chk: 950, sav: 50 } } },
  { type: 'task', task: 'confirm the transfer' },
  { type: 'message', role: 'assistant', content: 'Done: T-1.', usage: { promptTokens: 120, completionTokens: 9 }, costUsd: 0.0007 },
  { type: 'summary', content: 'Alice moved $50 to savings.', throughSeq: 9 },
  { type: 'task', task: null },
];

describe.each(backends())('append and replay on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  let clock = Date.parse('2026-03-01T10:00:00.000Z');

  beforeAll(async () => {
    const t = await testVault(backend, { clock: () => new Date((clock += 1000)), pageSize: 4 });
    vault = t.vault;
    url = t.url;
    close = t.close;
    await vault.createTenant('bank');
    await vault.createTenant('other');
  });
  afterAll(() => close());

  it('round-trips every event type and replays the exact state', async () => {
    const s = vault.session('bank', 'every-type');
    const r = await s.appendMany(EVERY_TYPE, { agent: 'teller', correlationId: 'corr-rt' });
    expect(r).toMatchObject({ appended: 11, firstSeq: 1, lastSeq: 11, deduplicated: false });
    expect(r.head).toMatch(/^[0-9a-f]{64}$/);

    const events = [];
    for await (const e of s.events()) events.push(e);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(events.map((e) => ({ type: e.type, ...e.data }))).toEqual(EVERY_TYPE);
    expect(events.every((e) => e.correlationId === 'corr-rt')).toBe(true);
    expect(events[10]!.hash).toBe(r.head);

    const state = await s.state();
    expect(state).toMatchObject({
      tenant: 'bank',
      session: 'every-type',
      agent: 'teller',
      lastSeq: 11,
      head: r.head,
      toolState: { transfer: { last: 'T-1' } },
      worldState: { balances: { chk: 950, sav: 50 } },
      currentTask: null,
      summary: { content: 'Alice moved $50 to savings.', throughSeq: 9 },
      usage: { promptTokens: 120, completionTokens: 9, costUsd: 0.0007 },
    });
    expect(state.messages.map((m) => [m.seq, m.role, m.content, m.name, m.toolCallId])).toEqual([
      [1, 'system', 'You are helpful.', undefined, undefined],
      [2, 'user', 'Move $50 to savings', 'alice', undefined],
      [5, 'tool', '{"ok":true}', undefined, 'call_1'],
      [9, 'assistant', 'Done: T-1.', undefined, undefined],
    ]);
    expect(state.toolCalls).toEqual([
      { callId: 'call_1', tool: 'transfer', input: { from: 'chk', to: 'sav', amount: 50 }, output: { ok: true, ref: 'T-1' }, summary: 'moved', durationMs: 81, isError: false, callSeq: 3, resultSeq: 4 },
    ]);
  });

  it('appends a batch larger than one statement atomically: a failure in its last chunk leaves none of it', async () => {
    const s = vault.session('bank', 'big');
    const batch = (from: number) => Array.from({ length: 2500 }, (_, i) => ({ type: 'task', task: `t${from + i}` }));
    expect(await s.appendMany(batch(1))).toMatchObject({ appended: 2500, firstSeq: 1, lastSeq: 2500 });
    // As the database owner, a trigger that fails the insert of seq 4,900, in the third statement of the next batch.
    await asOwner(vault, url, [
      { text: `CREATE FUNCTION fail_at_4900() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.session_id = 'big' AND NEW.seq = 4900 THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$` },
      { text: `CREATE TRIGGER fail_at_4900 BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION fail_at_4900()` },
    ]);
    try {
      await expect(s.appendMany(batch(2501))).rejects.toMatchObject({ code: 'STORAGE_REFUSED' });
      expect(await s.headSeq()).toBe(2500);
      const tail = await s.tail(1);
      expect(tail.events[0]).toMatchObject({ seq: 2500, data: { task: 't2500' } });
    } finally {
      await asOwner(vault, url, [{ text: `DROP TRIGGER fail_at_4900 ON events` }, { text: `DROP FUNCTION fail_at_4900()` }]);
    }
    (vault as any).deps.cache.delete('bank', 'big');
    expect(await s.appendMany(batch(2501))).toMatchObject({ appended: 2500, firstSeq: 2501, lastSeq: 5000 });
    let n = 0;
    for await (const e of s.events()) expect(e.seq).toBe(++n);
    expect(n).toBe(5000);
    expect((await vault.verify({ tenant: 'bank', session: 'big' })).ok).toBe(true);
  });

  it('replays the state as it stood at an earlier seq or time', async () => {
    const s = vault.session('bank', 'pit');
    await s.append({ type: 'task', task: 'first' });
    const second = await s.append({ type: 'task', task: 'second' });
    await s.append({ type: 'task', task: 'third' });
    expect((await s.state({ atSeq: 2 })).currentTask).toBe('second');
    const events = [];
    for await (const e of s.events()) events.push(e);
    expect((await s.state({ at: events[1]!.at })).currentTask).toBe('second');
    expect((await s.state({ at: new Date(events[0]!.at.getTime() - 1) })).lastSeq).toBe(0);
    expect((await s.state({ atSeq: 2 })).head).toBe(second.head);
  });

  it('reads from a seq onwards, page by page', async () => {
    const s = vault.session('bank', 'paged');
    await s.appendMany(Array.from({ length: 10 }, (_, i) => ({ type: 'message', role: 'user', content: `m${i + 1}` })));
    const seqs = [];
    for await (const e of s.events({ fromSeq: 3 })) seqs.push(e.seq);
    expect(seqs).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('returns the original result for a retried idempotent append, and stores nothing twice', async () => {
    const s = vault.session('bank', 'idem');
    const batch = [
      { type: 'message', role: 'user', content: 'pay bill', idempotencyKey: 'req-1#0' },
      { type: 'tool_call', callId: 'c', tool: 'pay', input: {}, idempotencyKey: 'req-1#1' },
    ];
    const first = await s.appendMany(batch);
    const retry = await s.appendMany(batch);
    expect(retry).toMatchObject({ firstSeq: first.firstSeq, lastSeq: first.lastSeq, head: first.head, deduplicated: true });
    await expect(s.appendMany([batch[0]!, { type: 'task', task: 'x', idempotencyKey: 'req-2' }])).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    await expect(s.appendMany([{ type: 'task', task: 'x', idempotencyKey: 'k' }, { type: 'task', task: 'y', idempotencyKey: 'k' }])).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    expect((await s.state()).lastSeq).toBe(2);
  });

  it('any mix of keyed appends and their retries, one after another and at once across sessions, stores each key once and answers every retry with its original result', async () => {
    // Retries are found by the unique index on the keys (vault/append.ts): a statement
    // carrying a stored key fails, and the next attempt finds it. Here with the head
    // cached and current (a retry of an acknowledged append), and through group commit.
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.nat(5), { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 }), async (plans) => {
        run++;
        const perSession = await Promise.all(
          plans.map(async (plan, p) => {
            const s = vault.session('bank', `keys-${run}-${p}`);
            const first = new Map<number, { firstSeq: number; head: string }>();
            for (const k of plan) {
              const r = await s.append({ type: 'task', task: `t${k}`, idempotencyKey: `k${k}` });
              const was = first.get(k);
              if (was) expect(r).toMatchObject({ ...was, deduplicated: true });
              else {
                expect(r.deduplicated).toBe(false);
                first.set(k, { firstSeq: r.firstSeq, head: r.head });
              }
            }
            const tasks: unknown[] = [];
            for await (const e of s.events()) tasks.push((e.data as { task: string }).task);
            return { tasks, expected: [...first.keys()].map((k) => `t${k}`) };
          }),
        );
        for (const { tasks, expected } of perSession) expect(tasks).toEqual(expected);
      }),
      { numRuns: 15 },
    );
  });

  it('stamps correlation ids: explicit, per event, ambient, or generated', async () => {
    const s = vault.session('bank', 'corr');
    await s.appendMany([{ type: 'task', task: 'a' }, { type: 'task', task: 'b', correlationId: 'own' }], { correlationId: 'explicit' });
    await withCorrelationId('ambient-1', async () => {
      await Promise.resolve();
      await s.append({ type: 'task', task: 'c' });
    });
    const generated = await s.append({ type: 'task', task: 'd' });
    const ids = [];
    for await (const e of s.events()) ids.push(e.correlationId);
    expect(ids.slice(0, 3)).toEqual(['explicit', 'own', 'ambient-1']);
    expect(ids[3]).toBe(generated.correlationId);
    expect(ids[3]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps one gapless chain under concurrent appends in one process', async () => {
    const s = vault.session('bank', 'concurrent');
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => s.appendMany([{ type: 'task', task: `t${i}` }, { type: 'task', task: `u${i}` }])));
    const ranges = results.map((r) => [r.firstSeq, r.lastSeq]).sort((a, b) => a[0]! - b[0]!);
    expect(ranges.flat()).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await vault.verify({ tenant: 'bank', session: 'concurrent' })).toMatchObject({ ok: true, events: 50 });
  });

  it('refuses bad input with a typed error and stores nothing', async () => {
    const s = vault.session('bank', 'bad-input');
    await expect(s.appendMany([{ type: 'task', task: 'ok' }, { type: 'nope' }])).rejects.toMatchObject({ code: 'INVALID_EVENT', message: expect.stringMatching(/^event 2: type/) });
    await expect(s.append({ type: 'message', role: 'user', content: 'x', extra: true })).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    await expect(s.append({ type: 'task', task: 'x' }, { correlationId: '\u0000' })).rejects.toMatchObject({ code: 'INVALID_ID' });
    await expect(s.state()).rejects.toMatchObject({ code: 'UNKNOWN_SESSION' });
    expect((await vault.sessions('bank')).map((x) => x.session)).not.toContain('bad-input');
    await expect(vault.session('ghost', 's').append({ type: 'task', task: 'x' })).rejects.toMatchObject({ code: 'UNKNOWN_TENANT' });
    expect(() => vault.session('Bad Tenant', 's')).toThrow(expect.objectContaining({ code: 'INVALID_ID' }));
    expect(() => vault.session('bank', '-leading-dash')).toThrow(expect.objectContaining({ code: 'INVALID_ID' }));
    await expect(vault.createTenant('bank')).rejects.toMatchObject({ code: 'TENANT_EXISTS' });
    await expect(vault.sessions('ghost')).rejects.toMatchObject({ code: 'UNKNOWN_TENANT' });
  });

  it('lists sessions with counts, times, agent and status', async () => {
    await vault.session('other', 'listed').append({ type: 'task', task: 'x' }, { agent: 'a1' });
    const list = await vault.sessions('other');
    expect(list).toEqual([{ session: 'listed', agent: 'a1', events: 1, firstAt: expect.any(String), lastAt: expect.any(String), status: 'active' }]);
    expect((await vault.tenants()).map((t) => t.tenant)).toEqual(['bank', 'other']);
  });

  it('verifies every tenant and session', async () => {
    const report = await vault.verify();
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([]);
    expect(report.sessions).toBeGreaterThanOrEqual(7);
  });
});
