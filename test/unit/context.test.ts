import fc from 'fast-check';
import type { VaultEvent } from '../../src/domain';
import { conversationGroups, estimateTokens, fullHistory, slidingWindow, summaryPlusRecent, tokenBudget } from '../../src/integrations/openai';
import { costOf } from '../../src/integrations/openai';

/** Context strategies are pure: events in, Chat Completions messages out. */
let seq = 0;
const ev = (type: VaultEvent['type'], data: Record<string, unknown>): VaultEvent => ({ seq: ++seq, type, at: new Date(0), correlationId: 'c', hash: '', data });
const user = (content: string) => ev('message', { role: 'user', content });
const assistant = (content: string) => ev('message', { role: 'assistant', content });
const call = (callId: string, tool: string) => ev('tool_call', { callId, tool, input: { q: 1 } });
const result = (callId: string, output: unknown, summary?: string) => ev('tool_result', { callId, output, ...(summary ? { summary } : {}) });
const never = { summarize: () => Promise.reject(new Error('not expected')), recordSummary: () => Promise.reject(new Error('not expected')) };

/** A conversation: user turns, some with an assistant tool round before the answer. */
function conversation(turns: boolean[]): VaultEvent[] {
  seq = 0;
  const out: VaultEvent[] = [];
  turns.forEach((tools, i) => {
    out.push(user(`q${i}`));
    if (tools) out.push(assistant(''), call(`c${i}a`, 'lookup'), call(`c${i}b`, 'rates'), result(`c${i}a`, { n: i }), result(`c${i}b`, { r: i }, `rates ${i}`));
    out.push(assistant(`a${i}`));
  });
  return out;
}

/** No tool message without the assistant message that called it, no call without its answer. */
function wellFormed(messages: { role: string; tool_call_id?: string; tool_calls?: { id: string }[] }[]): boolean {
  const open = new Set<string>();
  for (const m of messages) {
    if (m.role === 'tool') {
      if (!open.delete(m.tool_call_id!)) return false;
    } else {
      if (open.size > 0) return false;
      for (const c of m.tool_calls ?? []) open.add(c.id);
    }
  }
  return open.size === 0;
}

describe('context strategies', () => {
  it('full history: tool calls attach to their assistant message; outputs go by their summary when they have one', async () => {
    const msgs = await fullHistory().build({ events: conversation([true]), systemPrompt: 'S' }, never);
    expect(msgs).toEqual([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'q0' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'c0a', type: 'function', function: { name: 'lookup', arguments: '{"q":1}' } },
          { id: 'c0b', type: 'function', function: { name: 'rates', arguments: '{"q":1}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c0a', content: '{"n":0}' },
      { role: 'tool', tool_call_id: 'c0b', content: 'rates 0' },
      { role: 'assistant', content: 'a0' },
    ]);
  });

  it('leaves out a tool call that never got its answer (a crash mid-turn)', async () => {
    seq = 0;
    const events = [user('q'), assistant(''), call('x', 'lookup'), user('again')];
    expect(await fullHistory().build({ events }, never)).toEqual([
      { role: 'user', content: 'q' },
      { role: 'user', content: 'again' },
    ]);
  });

  it('sliding window and token budget never split a tool round, and keep the newest message', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 400 }), async (turns, lastN, maxTokens) => {
        const events = conversation(turns);
        const window = await slidingWindow({ lastN }).build({ events, systemPrompt: 'S' }, never);
        expect(wellFormed(window)).toBe(true);
        expect(window[0]).toEqual({ role: 'system', content: 'S' });
        expect(window[window.length - 1]).toEqual({ role: 'assistant', content: `a${turns.length - 1}` });
        const budget = await tokenBudget({ maxTokens }).build({ events, systemPrompt: 'S' }, never);
        expect(wellFormed(budget)).toBe(true);
        expect(budget[budget.length - 1]).toEqual({ role: 'assistant', content: `a${turns.length - 1}` });
        if (budget.length > 2) expect(estimateTokens(budget)).toBeLessThanOrEqual(maxTokens);
      }),
    );
  });

  it('summary + recent summarises only what lies outside the recent window, and records it', async () => {
    const recorded: [string, number][] = [];
    const services = {
      summarize: async (messages: { content: string | null }[], previous: string | null) => `${previous ?? ''}[${messages.map((m) => m.content).join(',')}]`,
      recordSummary: async (content: string, through: number) => void recorded.push([content, through]),
    };
    const events = conversation([false, false, false]); // q0 a0 q1 a1 q2 a2: seqs 1..6
    const msgs = await summaryPlusRecent({ keepRecent: 2, summarizeAfter: 3 }).build({ events, facts: ['VIP'] }, services);
    expect(recorded).toEqual([['[q0,a0,q1,a1]', 4]]);
    expect(msgs).toEqual([
      { role: 'system', content: 'What you know about this user:\n- VIP\n\nSummary of the earlier conversation:\n[q0,a0,q1,a1]' },
      { role: 'user', content: 'q2' },
      { role: 'assistant', content: 'a2' },
    ]);
    // With the summary recorded as an event, the next build reuses it.
    const withSummary = [...events, ev('summary', { content: '[q0,a0,q1,a1]', throughSeq: 4 })];
    expect(await summaryPlusRecent({ keepRecent: 2, summarizeAfter: 3 }).build({ events: withSummary }, never)).toEqual([
      { role: 'system', content: 'Summary of the earlier conversation:\n[q0,a0,q1,a1]' },
      { role: 'user', content: 'q2' },
      { role: 'assistant', content: 'a2' },
    ]);
  });

  it('groups an imported tool message with its call rather than repeating the result', () => {
    seq = 0;
    const events = [assistant(''), call('k', 'lookup'), ev('message', { role: 'tool', content: 'found', toolCallId: 'k' }), result('k', 'found')];
    expect(conversationGroups(events).flatMap((g) => g.messages).filter((m) => m.role === 'tool')).toEqual([{ role: 'tool', content: 'found', tool_call_id: 'k' }]);
  });
});

describe('cost', () => {
  it('prices a dated snapshot by its model, and knows nothing of an unlisted one', () => {
    expect(costOf('gpt-4o-2024-08-06', { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe(12.5);
    expect(costOf('gpt-4o-mini', { promptTokens: 1000, completionTokens: 0 })).toBe(0.00015);
    expect(costOf('my-finetune', { promptTokens: 1, completionTokens: 1 })).toBeUndefined();
  });
});
