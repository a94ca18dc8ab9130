import fc from 'fast-check';
import type { VaultEvent } from '../../src/domain';
import { freshCompact, replayCompact } from '../../src/replay';
import { contextEvents } from '../../src/integrations/openai/context-events';
import { fullHistory, slidingWindow, summaryPlusRecent, tokenBudget, type ContextServices, type ContextStrategy } from '../../src/integrations/openai';
import type { VaultSession } from '../../src/vault';

/**
 * A strategy that reaches only the tail (sliding window, summary + recent, a budget over
 * either) builds the same context from what `contextEvents` reads — the tail back to a
 * group boundary, plus the session's landmarks — as from every event, whatever the
 * session holds: system messages anywhere, tool calls answered by tool messages or by
 * results, call ids reused across turns, summaries, instructions.
 */
const meta = { tenant: 't', session: 's', agent: null };
const text = fc.constantFrom('a', 'b', 'hello', '');
const callId = fc.constantFrom('c1', 'c2');
const input = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant('message'), data: fc.record({ role: fc.constantFrom('user', 'user', 'assistant', 'assistant', 'system', 'developer'), content: text }) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('tool_call'), data: fc.record({ callId, tool: fc.constant('lookup'), input: fc.record({ n: fc.nat(3) }) }) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('tool_result'), data: fc.record({ callId, output: fc.oneof(text, fc.record({ ok: fc.boolean() })) }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('message'), data: fc.record({ role: fc.constant('tool'), content: text, toolCallId: callId }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('instructions'), data: fc.record({ systemPrompt: fc.option(text), facts: fc.array(text, { maxLength: 2 }) }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('summary'), data: fc.record({ content: text, throughSeq: fc.nat(60) }) }) },
);

function eventsOf(inputs: { type: string; data: any }[]): VaultEvent[] {
  return inputs.map(({ type, data }, i) => ({ seq: i + 1, type: type as VaultEvent['type'], at: new Date(1000 + i), correlationId: 'c', hash: `h${i + 1}`, data }));
}

/**
 * A session over an in-memory event list, reading as VaultSession does (landmarks from the
 * real fold). Events it is asked to hold are kept; `landmarks(since)` gives the events
 * after `since` when `answers(since)` says the read could (the vault's held state at it).
 */
function sessionOver(all: VaultEvent[], reads: { count: number }, answers: (since: { seq: number }) => boolean = () => false): VaultSession {
  let held: { seq: number; hash: string; events: readonly VaultEvent[] } | undefined;
  return {
    async landmarks(since?: { seq: number; hash: string }) {
      const c = await replayCompact(freshCompact(meta), all, {}, 3);
      const on = since && all[since.seq - 1]?.hash === since.hash && answers(since);
      return { head: all.length, landmarks: c!.landmarks!, ...(on ? { after: structuredClone(all.slice(since.seq)) } : {}) };
    },
    heldEvents: () => held,
    holdEvents(events: readonly VaultEvent[]) {
      const last = events[events.length - 1];
      if (last) held = { seq: last.seq, hash: last.hash, events };
    },
    async eventsAt(seqs: number[]) {
      reads.count += seqs.length;
      return { head: all.length, events: structuredClone(all.filter((e) => seqs.includes(e.seq))) }; // decrypted afresh, as the vault's are
    },
    async *eventsBackward() {
      for (let i = all.length - 1; i >= 0; i--) {
        reads.count++;
        yield structuredClone(all[i]!);
      }
    },
    async *events() {
      for (const e of all) {
        reads.count++;
        yield e;
      }
    },
  } as unknown as VaultSession;
}

/** Summaries are deterministic and their recording is captured, so two builds compare. */
function services(): ContextServices & { recorded: unknown[] } {
  const recorded: unknown[] = [];
  return {
    recorded,
    summarize: async (messages, previous) => `S(${previous ?? '-'}|${messages.map((m) => `${m.role}:${m.content}`).join(',')})`,
    recordSummary: async (content, throughSeq) => void recorded.push({ content, throughSeq }),
  };
}

const strategies: [string, () => ContextStrategy][] = [
  ['slidingWindow(1)', () => slidingWindow({ lastN: 1 })],
  ['slidingWindow(3)', () => slidingWindow({ lastN: 3 })],
  ['summaryPlusRecent(2, 3)', () => summaryPlusRecent({ keepRecent: 2, summarizeAfter: 3 })],
  ['tokenBudget over slidingWindow(4)', () => tokenBudget({ maxTokens: 30, inner: slidingWindow({ lastN: 4 }) })],
];

describe('context strategies that reach only the tail', () => {
  it.each(strategies)('%s builds the same context from the tail and landmarks as from every event (property)', async (_name, make) => {
    await fc.assert(
      fc.asyncProperty(fc.array(input, { maxLength: 60 }), async (inputs) => {
        const all = eventsOf(inputs);
        const strategy = make();
        const request = { systemPrompt: 'be brief', facts: ['likes tea'] };
        const fromAll = services();
        const expected = await strategy.build({ ...request, events: all }, fromAll);
        const reads = { count: 0 };
        const part = await contextEvents(sessionOver(all, reads), strategy.reach);
        const fromPart = services();
        expect(await strategy.build({ ...request, events: part }, fromPart)).toEqual(expected);
        expect(fromPart.recorded).toEqual(fromAll.recorded);
      }),
      { numRuns: 400 },
    );
  });

  it.each(strategies)('%s builds the same context from held events and the events after them, turn after turn (property)', async (_name, make) => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(input, { maxLength: 8 }), { minLength: 1, maxLength: 8 }), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), async (turns, answered) => {
        const all: VaultEvent[] = [];
        const reads = { count: 0 };
        let turn = 0;
        const session = sessionOver(all, reads, () => answered[turn]!);
        const request = { systemPrompt: 'be brief', facts: ['likes tea'] };
        for (; turn < turns.length; turn++) {
          all.push(...eventsOf([...all.map((e) => ({ type: e.type, data: e.data })), ...turns[turn]!]).slice(all.length));
          const strategy = make();
          const fromAll = services();
          const expected = await strategy.build({ ...request, events: all }, fromAll);
          const before = reads.count;
          const part = await contextEvents(session, strategy.reach);
          const fromPart = services();
          expect(await strategy.build({ ...request, events: part }, fromPart)).toEqual(expected);
          expect(fromPart.recorded).toEqual(fromAll.recorded);
          if (turn > 0 && answered[turn] && turns[turn]!.length === 0 && all.length > 0) expect(reads.count).toBe(before); // nothing new: all from memory
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a later summary reaching back before the held events reads from the database again', async () => {
    const reach = { kind: 'sinceSummary' } as const;
    const msg = (role: string, content: string) => ({ type: 'message', data: { role, content } });
    const all = eventsOf([msg('user', 'u1'), msg('assistant', 'a1'), msg('user', 'u2'), msg('assistant', 'a2'), { type: 'summary', data: { content: 's1', throughSeq: 4 } }]);
    const session = sessionOver(all, { count: 0 }, () => true);
    expect((await contextEvents(session, reach)).map((e) => e.seq)).toEqual([3, 4, 5]); // back to the boundary at or before 4
    all.push(...eventsOf([...all.map((e) => ({ type: e.type, data: e.data })), { type: 'summary', data: { content: 's2', throughSeq: 1 } }]).slice(all.length));
    const reads = { count: 0 };
    const fresh = await contextEvents(sessionOver(all, reads), reach);
    expect(fresh.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await contextEvents(session, reach)).toEqual(fresh);
  });

  it('hands out copies: changing what a build returned changes nothing held', async () => {
    const all = eventsOf([{ type: 'message', data: { role: 'user', content: 'hi' } }, { type: 'message', data: { role: 'assistant', content: 'hello' } }]);
    const session = sessionOver(all, { count: 0 }, () => true);
    const first = await contextEvents(session, slidingWindow({ lastN: 2 }).reach);
    (first[0]!.data as { content: string }).content = 'changed';
    const reads = { count: 0 };
    const again = await contextEvents(sessionOver(all, reads, () => true), slidingWindow({ lastN: 2 }).reach);
    expect(again.map((e) => (e.data as { content: string }).content)).toEqual(['hi', 'hello']);
    const second = await contextEvents(session, slidingWindow({ lastN: 2 }).reach); // from memory
    expect(second.map((e) => (e.data as { content: string }).content)).toEqual(['hi', 'hello']);
  });

  it('reads a window of a long conversation, not the conversation', async () => {
    const turns = Array.from({ length: 2000 }, (_, i) => ({ type: 'message', data: { role: i % 2 ? 'assistant' : 'user', content: `m${i}` } }));
    const all = eventsOf([{ type: 'message', data: { role: 'system', content: 'You are a bank.' } }, ...turns]);
    const reads = { count: 0 };
    const part = await contextEvents(sessionOver(all, reads), slidingWindow({ lastN: 6 }).reach);
    expect(reads.count).toBeLessThan(20);
    expect(await slidingWindow({ lastN: 6 }).build({ events: part }, services())).toEqual(await slidingWindow({ lastN: 6 }).build({ events: all }, services()));
    expect(await contextEvents(sessionOver(all, { count: 0 }), fullHistory().reach)).toHaveLength(all.length);
  });
});
