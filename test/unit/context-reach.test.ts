import fc from 'fast-check';
import type { VaultEvent } from '../../src/domain';
import { freshCompact, replayCompact } from '../../src/replay';
import { contextEvents } from '../../src/integrations/openai/chat';
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

/** A session over an in-memory event list, reading as VaultSession does (landmarks from the real fold). */
function sessionOver(all: VaultEvent[], reads: { count: number }): VaultSession {
  return {
    async landmarks() {
      const c = await replayCompact(freshCompact(meta), all, {}, 3);
      return { head: all.length, landmarks: c!.landmarks! };
    },
    async eventsAt(seqs: number[]) {
      reads.count += seqs.length;
      return { head: all.length, events: all.filter((e) => seqs.includes(e.seq)) };
    },
    async *eventsBackward() {
      for (let i = all.length - 1; i >= 0; i--) {
        reads.count++;
        yield all[i]!;
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
