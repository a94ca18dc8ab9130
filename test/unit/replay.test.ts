import fc from 'fast-check';
import { applyMergePatch, evolve, initialState, replay, type Json } from '../../src/replay';
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
