import { importMessages, toOpenAiMessages } from '../../src/integrations';
import type { VaultEvent } from '../../src/domain';

/** Chat history files in and out: the mapping, its round trip, and what it refuses. */
const history = [
  { role: 'system', content: 'You are a helpful banking assistant.' },
  { role: 'user', content: "What's my balance?", name: 'alice' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_balance', arguments: '{"account":"chk"}' } }] },
  { role: 'tool', tool_call_id: 'call_1', content: '{"usd":1250}' },
  { role: 'assistant', content: 'You have $1,250.' },
];

const asStored = (events: ReturnType<typeof importMessages>): VaultEvent[] =>
  events.map((e, i) => {
    const { type, ...data } = e;
    return { seq: i + 1, type, at: new Date(0), correlationId: 'c', hash: '', data };
  });

describe('openai-messages', () => {
  it('maps messages, tool calls and tool results to events', () => {
    expect(importMessages(history, 'openai-messages')).toEqual([
      { type: 'message', role: 'system', content: 'You are a helpful banking assistant.' },
      { type: 'message', role: 'user', content: "What's my balance?", name: 'alice' },
      { type: 'message', role: 'assistant', content: '' },
      { type: 'tool_call', callId: 'call_1', tool: 'get_balance', input: { account: 'chk' } },
      { type: 'message', role: 'tool', content: '{"usd":1250}', toolCallId: 'call_1' },
      { type: 'tool_result', callId: 'call_1', output: '{"usd":1250}' },
      { type: 'message', role: 'assistant', content: 'You have $1,250.' },
    ]);
  });

  it('round-trips: import then export gives the same messages', () => {
    expect(toOpenAiMessages(asStored(importMessages(history, 'openai-messages')))).toEqual(history);
  });

  it('joins text parts of array content', () => {
    const [e] = importMessages([{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }], 'openai-messages');
    expect(e).toEqual({ type: 'message', role: 'user', content: 'ab' });
  });

  it.each([
    ['not an array', { role: 'user', content: 'x' }, /expected a JSON array/],
    ['an empty array', [], /no messages/],
    ['an unknown role', [{ role: 'robot', content: 'x' }], /^message 1: role:/],
    ['a missing content', [{ role: 'user' }], /^message 1: content: required/],
    ['a tool message without its call id', [{ role: 'tool', content: 'x' }], /^message 1: tool_call_id: required/],
    ['tool calls on a user message', [{ role: 'user', content: 'x', tool_calls: [{ id: 'c', function: { name: 'f', arguments: '{}' } }] }], /^message 1: tool_calls/],
    ['a malformed tool call', [{ role: 'assistant', content: 'x', tool_calls: [{ id: 'c' }] }], /^message 1: tool_calls\.0\.function/],
  ])('refuses %s, naming the message and field', (_label, json, message) => {
    expect(() => importMessages(json, 'openai-messages')).toThrow(expect.objectContaining({ code: 'INVALID_EVENT', message: expect.stringMatching(message) }));
  });
});

describe('autogen', () => {
  it('takes agent names, defaults the role to assistant, and maps function to tool', () => {
    const saved = [
      { content: 'Plan: look up the policy.', name: 'planner' },
      { role: 'user', content: 'Go ahead.', name: 'customer' },
      { role: 'assistant', content: '', name: 'executor', tool_calls: [{ id: 't1', type: 'function', function: { name: 'lookup', arguments: 'not json' } }] },
      { role: 'function', content: 'found', tool_call_id: 't1', name: 'lookup' },
    ];
    expect(importMessages(saved, 'autogen')).toEqual([
      { type: 'message', role: 'assistant', content: 'Plan: look up the policy.', name: 'planner' },
      { type: 'message', role: 'user', content: 'Go ahead.', name: 'customer' },
      { type: 'message', role: 'assistant', content: '', name: 'executor' },
      { type: 'tool_call', callId: 't1', tool: 'lookup', input: 'not json' },
      { type: 'message', role: 'tool', content: 'found', name: 'lookup', toolCallId: 't1' },
      { type: 'tool_result', callId: 't1', output: 'found' },
    ]);
  });
});
