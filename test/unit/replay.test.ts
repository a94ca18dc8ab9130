import fc from 'fast-check';
import { applyMergePatch, copyState, evolve, initialState, replay, type Json } from '../../src/replay';
import type { VaultEvent, EventType } from '../../src/domain';

describe('JSON Merge Patch (RFC 7396 appendix A examples)', () => {
  const cases: [Json, Json, Json][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  it.each(cases)('%j patched with %j is %j', (target, patch, result) => {
    expect(applyMergePatch(target, patch)).toEqual(result);
  });

  it('never mutates its inputs (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (t, p) => {
        const before = JSON.stringify([t, p]);
        applyMergePatch(t as Json, p as Json);
        expect(JSON.stringify([t, p])).toBe(before);
      }),
    );
  });

  it('keeps a "__proto__" member as data, never as the prototype', () => {
    const patched = applyMergePatch({}, JSON.parse('{"__proto__": {"admin": true}, "a": 1}')) as Record<string, Json>;
    expect(Object.getPrototypeOf(patched)).toBe(Object.prototype);
    expect(Object.keys(patched)).toEqual(['__proto__', 'a']);
    expect(JSON.stringify(patched)).toBe('{"__proto__":{"admin":true},"a":1}');
    expect((patched as { admin?: unknown }).admin).toBeUndefined();
  });
});

let seq = 0;
const ev = (type: EventType, data: Record<string, unknown>, at = 1000 + seq): VaultEvent => ({
  seq: ++seq,
  type,
  at: new Date(at),
  correlationId: 'c',
  hash: `h${seq}`,
  data,
});

describe('replay', () => {
  beforeEach(() => (seq = 0));
  const meta = { tenant: 't', session: 's', agent: 'bot' };

  it('rebuilds conversation, tool calls, states, task, summary and usage', async () => {
    const events = [
      ev('message', { role: 'user', content: 'hi' }),
      ev('tool_call', { callId: 'c1', tool: 'lookup', input: { id: 1 } }),
      ev('tool_result', { callId: 'c1', output: { ok: true }, summary: 'ok', durationMs: 4 }),
      ev('state_patch', { scope: 'tool', patch: { cache: { a: 1 } } }),
      ev('state_patch', { scope: 'world', patch: { user: 'x' } }),
      ev('state_patch', { scope: 'tool', patch: { cache: { a: null, b: 2 } } }),
      ev('task', { task: 'do it' }),
      ev('message', { role: 'assistant', content: 'done', usage: { promptTokens: 10, completionTokens: 3 }, costUsd: 0.1 }),
      ev('message', { role: 'assistant', content: 'more', usage: { promptTokens: 1, completionTokens: 1 }, costUsd: 0.2 }),
      ev('summary', { content: 'sum', throughSeq: 2 }),
    ];
    const s = await replay(meta, events);
    expect(s.messages.map((m) => [m.seq, m.role, m.content])).toEqual([
      [1, 'user', 'hi'],
      [8, 'assistant', 'done'],
      [9, 'assistant', 'more'],
    ]);
    expect(s.toolCalls).toEqual([
      { callId: 'c1', tool: 'lookup', input: { id: 1 }, output: { ok: true }, summary: 'ok', durationMs: 4, isError: false, callSeq: 2, resultSeq: 3 },
    ]);
    expect(s.toolState).toEqual({ cache: { b: 2 } });
    expect(s.worldState).toEqual({ user: 'x' });
    expect(s.currentTask).toBe('do it');
    expect(s.summary).toEqual({ content: 'sum', throughSeq: 2 });
    expect(s.usage).toEqual({ promptTokens: 11, completionTokens: 4, costUsd: 0.3 });
    expect(s.lastSeq).toBe(10);
    expect(s.head).toBe('h10');
  });

  it('stops at a seq or a time', async () => {
    const events = [ev('task', { task: 'a' }, 100), ev('task', { task: 'b' }, 200), ev('task', { task: 'c' }, 300)];
    expect((await replay(meta, events, { atSeq: 2 })).currentTask).toBe('b');
    expect((await replay(meta, events, { at: new Date(250) })).currentTask).toBe('b');
    expect((await replay(meta, events, { at: new Date(200) })).currentTask).toBe('b');
    expect((await replay(meta, events, { atSeq: 0 })).lastSeq).toBe(0);
  });

  it('keeps a result whose call it never saw', async () => {
    const s = await replay(meta, [ev('tool_result', { callId: 'zz', output: 1, isError: true })]);
    expect(s.toolCalls[0]).toMatchObject({ callId: 'zz', tool: '(unknown)', output: 1, isError: true });
  });

  it('matches results to the latest open call when call ids repeat', async () => {
    const s = await replay(meta, [
      ev('tool_call', { callId: 'c', tool: 'a', input: 1 }),
      ev('tool_result', { callId: 'c', output: 'first' }),
      ev('tool_call', { callId: 'c', tool: 'b', input: 2 }),
      ev('tool_result', { callId: 'c', output: 'second' }),
    ]);
    expect(s.toolCalls.map((c) => [c.tool, c.output])).toEqual([
      ['a', 'first'],
      ['b', 'second'],
    ]);
  });

  it('is deterministic: replaying any prefix twice gives equal states (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ scope: fc.constantFrom('tool', 'world'), patch: fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue()) }), { maxLength: 20 }), (patches) => {
        seq = 0;
        const events = patches.map((p) => ev('state_patch', p));
        const a = events.reduce(evolve, initialState(meta));
        const b = events.reduce(evolve, initialState(meta));
        expect(a).toEqual(b);
      }),
    );
  });
});

describe('copyState', () => {
  beforeEach(() => (seq = 0));
  const meta = { tenant: 't', session: 's', agent: null };
  const json = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;
  const events = fc.array(
    fc.oneof(
      fc.record({ type: fc.constant('message' as const), data: fc.record({ role: fc.constantFrom('user', 'assistant'), content: fc.string(), usage: fc.record({ promptTokens: fc.nat(9) }) }) }),
      fc.record({ type: fc.constant('tool_call' as const), data: fc.record({ callId: fc.constantFrom('a', 'b'), tool: fc.string(), input: json }) }),
      fc.record({ type: fc.constant('tool_result' as const), data: fc.record({ callId: fc.constantFrom('a', 'b'), output: json }) }),
      fc.record({ type: fc.constant('state_patch' as const), data: fc.record({ scope: fc.constantFrom('tool', 'world'), patch: fc.dictionary(fc.string({ maxLength: 3 }), json) }) }),
      fc.record({ type: fc.constant('agent_item' as const), data: fc.record({ item: fc.dictionary(fc.string({ maxLength: 3 }), json) }) }),
      fc.record({ type: fc.constant('summary' as const), data: fc.record({ content: fc.string(), throughSeq: fc.nat(9) }) }),
      fc.record({ type: fc.constant('model_error' as const), data: fc.record({ model: fc.string(), message: fc.string() }) }),
    ),
    { maxLength: 15 },
  );

  it('is equal to the state and shares no object with it: changing one never changes the other (property)', () => {
    fc.assert(
      fc.property(events, (list) => {
        seq = 0;
        const state = list.map((e) => ev(e.type, e.data)).reduce(evolve, initialState(meta));
        const before = structuredClone(state); // not JSON: it would turn -0 into 0
        const copy = copyState(state);
        expect(copy).toEqual(state);
        const objects = (v: unknown, into = new Set<object>()): Set<object> => {
          if (typeof v === 'object' && v !== null && !into.has(v)) {
            into.add(v);
            for (const x of Object.values(v)) objects(x, into);
          }
          return into;
        };
        const mine = objects(state);
        for (const o of objects(copy)) expect(mine.has(o)).toBe(false);
        // The fold goes on in place on the original: the copy stays as it was.
        evolve(state, ev('message', { role: 'user', content: 'later', usage: { promptTokens: 5 } }));
        for (const c of state.toolCalls) Object.assign(c, { output: 'changed' });
        expect(copy).toEqual(before);
      }),
      { examples: [[[{ type: 'tool_call', data: { callId: 'a', tool: '', input: -0 } }]]] },
    );
  });
});
