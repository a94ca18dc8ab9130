import fc from 'fast-check';
import { evolve, initialState, isPast, nothingDropped, replay, replayCompact, trim, windowOf } from '../../src/replay';
import { eventStream, type EventType, type VaultEvent } from '../../src/domain';
import { lastOf } from '../support/window-oracle';

/**
 * A compact state (src/replay/window.ts) folds to the same window as the full state,
 * whatever the events: a window read off it is the last N entries of each list of a full
 * replay, or it says it cannot know (a retraction reached what it dropped) and the caller
 * replays in full. Never a wrong answer.
 */
const meta = { tenant: 't', session: 's', agent: null };
const text = fc.string({ maxLength: 6 });
const id = fc.constantFrom('c1', 'c2', 'c3');
const input = fc.oneof(
  fc.record({ type: fc.constant('message' as EventType), data: fc.record({ role: fc.constantFrom('user', 'assistant'), content: text, usage: fc.record({ promptTokens: fc.nat(9), completionTokens: fc.nat(9) }) }) }),
  fc.record({ type: fc.constant('tool_call' as EventType), data: fc.record({ callId: id, tool: fc.constantFrom('lookup', 'transfer'), input: fc.record({ n: fc.nat(9) }) }) }),
  fc.record({ type: fc.constant('tool_result' as EventType), data: fc.record({ callId: id, output: fc.record({ ok: fc.boolean() }) }) }),
  fc.record({ type: fc.constant('state_patch' as EventType), data: fc.record({ scope: fc.constantFrom('tool', 'world'), patch: fc.dictionary(fc.constantFrom('a', 'b'), fc.oneof(fc.nat(9), fc.constant(null))) }) }),
  fc.record({ type: fc.constant('model_error' as EventType), data: fc.record({ model: fc.constant('m'), message: text }) }),
  fc.record({ type: fc.constant('agent_item' as EventType), data: fc.record({ item: fc.oneof(fc.record({ role: fc.constant('user'), content: text }), fc.record({ type: fc.constant('function_call'), callId: id, name: fc.constant('f'), arguments: fc.constant('{}') }), fc.record({ type: fc.constant('function_call_result'), callId: id, output: text })) }) }),
  fc.record({ type: fc.constant('summary' as EventType), data: fc.record({ content: text, throughSeq: fc.nat(30) }) }),
  // Retractions as the Agents SDK writes them (the last few, or everything) and anywhere.
  fc.record({ type: fc.constant('retraction' as EventType), data: fc.oneof(fc.constant({ back: 1 }), fc.constant({ back: 3 }), fc.constant({ clear: true }), fc.record({ fromSeq: fc.integer({ min: 1, max: 60 }), span: fc.nat(6) })) }),
);

function events(inputs: { type: EventType; data: any }[]): VaultEvent[] {
  return inputs.map(({ type, data }, i) => {
    const seq = i + 1;
    if (type === 'retraction') {
      const [fromSeq, toSeq] = data.clear ? [1, Math.max(1, seq - 1)] : data.back ? [Math.max(1, seq - data.back), Math.max(1, seq - 1)] : [data.fromSeq, data.fromSeq + data.span];
      data = { reason: 'pop', fromSeq, toSeq };
    }
    return { seq, type, at: new Date(1000 + seq), correlationId: 'c', hash: `h${seq}`, data: structuredClone(data) };
  });
}

describe('windowed state', () => {
  it('reads the same window off a compact fold as off a full replay, or says it cannot (property)', async () => {
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(input, { minLength: 5, maxLength: 60, size: 'max' }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.nat(60), async (inputs, retain, size, split) => {
        const all = events(inputs);
        const full = await replay(meta, events(inputs));
        // As a snapshot does: fold, trim to `retain`, store; later fold the rest on top.
        const first = await replayCompact({ state: initialState(meta), dropped: nothingDropped() }, all.slice(0, split), {}, retain);
        const snapshot = first && JSON.parse(JSON.stringify(trim(first, retain)));
        const compact = snapshot && (await replayCompact(snapshot, all.slice(split), {}, retain));
        const shown = compact && size <= retain ? windowOf(compact, size) : null;
        if (shown) {
          answered++;
          expect(shown).toEqual(lastOf(full, size));
        }
      }),
      { numRuns: 1000 },
    );
    expect(answered).toBeGreaterThan(200); // most are answered, not all fall back
  });

  it('answers every window up to what it keeps when nothing is retracted, with memory bounded by it', async () => {
    const inputs = Array.from({ length: 5000 }, (_, i) => (i % 3 === 0 ? { type: 'tool_call' as EventType, data: { callId: `k${i}`, tool: 't', input: {} } } : i % 3 === 1 ? { type: 'tool_result' as EventType, data: { callId: `k${i - 1}`, output: 1 } } : { type: 'message' as EventType, data: { role: 'user', content: `m${i}` } }));
    const compact = await replayCompact({ state: initialState(meta), dropped: nothingDropped() }, events(inputs), {}, 10);
    expect(compact).not.toBeNull();
    expect(compact!.state.messages.length).toBeLessThanOrEqual(20);
    expect(compact!.state.toolCalls.length).toBeLessThanOrEqual(20);
    expect(windowOf(compact!, 10)).toEqual(lastOf(await replay(meta, events(inputs)), 10));
  });

  it('keeps a tool call waiting for its result, however far back, so the result still finds it', async () => {
    const inputs = [{ type: 'tool_call' as EventType, data: { callId: 'slow', tool: 'transfer', input: { amount: 5 } } }, ...Array.from({ length: 50 }, (_, i) => ({ type: 'message' as EventType, data: { role: 'user', content: `m${i}` } })), { type: 'tool_result' as EventType, data: { callId: 'slow', output: 'done' } }];
    const compact = await replayCompact({ state: initialState(meta), dropped: nothingDropped() }, events(inputs), {}, 2);
    expect(compact!.state.toolCalls).toEqual([expect.objectContaining({ callId: 'slow', tool: 'transfer', output: 'done', callSeq: 1, resultSeq: 52 })]);
  });

  it('falls back (null) when a retraction takes part of what was dropped', async () => {
    const inputs = [...Array.from({ length: 10 }, (_, i) => ({ type: 'agent_item' as EventType, data: { item: { role: 'user', content: `m${i}` } } })), { type: 'retraction' as EventType, data: { fromSeq: 2, span: 0 } }];
    expect(await replayCompact({ state: initialState(meta), dropped: nothingDropped() }, events(inputs), {}, 2)).toBeNull();
    // Clearing everything is known without them: nothing is left.
    const cleared = [...inputs.slice(0, 10), { type: 'retraction' as EventType, data: { clear: true } }];
    const compact = await replayCompact({ state: initialState(meta), dropped: nothingDropped() }, events(cleared), {}, 2);
    expect(windowOf(compact!, 2)).toEqual(lastOf(await replay(meta, events(cleared)), 2));
    expect(compact!.state.agentItems).toEqual([]);
  });
});

describe('folding events in arrays (EventStream.chunks, what the vault hands replay)', () => {
  /** The events cut into arrays at `cuts`, as an EventStream; times shared within runs of `sameTime`, as a batch's are. */
  const inArrays = (all: VaultEvent[], cuts: number[]) => {
    const bounds = [...new Set([0, ...cuts.map((c) => c % (all.length + 1)), all.length])].sort((a, b) => a - b);
    return eventStream(
      (async function* () {
        for (let i = 1; i < bounds.length; i++) yield all.slice(bounds[i - 1], bounds[i]);
      })(),
    );
  };
  const timed = (all: VaultEvent[], sameTime: number) => all.map((e) => ({ ...e, at: new Date(1_700_000_000_000 + Math.floor((e.seq - 1) / sameTime) * 1000) }));

  it('gives the state one event at a time gives, to any point, whatever the arrays (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(input, { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat(40), { maxLength: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.option(fc.nat(45), { nil: undefined }),
        fc.option(fc.nat(12), { nil: undefined }),
        fc.integer({ min: 1, max: 4 }),
        async (inputs, cuts, sameTime, atSeq, atStep, retain) => {
          const all = timed(events(inputs), sameTime);
          const point = { ...(atSeq !== undefined ? { atSeq } : {}), ...(atStep !== undefined ? { at: new Date(1_700_000_000_000 + atStep * 1000) } : {}) };
          // The oracle: evolve over the events before the point, in a plain loop.
          const before = timed(events(inputs), sameTime).filter((e) => !isPast(e, point));
          let expected = initialState(meta);
          for (const e of before) expected = evolve(expected, e);
          expect(await replay(meta, inArrays(all, cuts), point)).toEqual(expected);
          // Every message's time is its event's, whichever time came before it.
          for (const m of expected.messages) expect(m.at).toBe(all[m.seq - 1]!.at.toISOString());
          expect(expected.lastAt).toBe(expected.lastSeq === 0 ? null : all[expected.lastSeq - 1]!.at.toISOString());
          const fresh = () => ({ state: initialState(meta), dropped: nothingDropped() });
          expect(await replayCompact(fresh(), inArrays(timed(events(inputs), sameTime), cuts), point, retain)).toEqual(await replayCompact(fresh(), timed(events(inputs), sameTime).slice(0, before.length), {}, retain));
        },
      ),
      { numRuns: 500 },
    );
  });
});
