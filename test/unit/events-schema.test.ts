import { parseEvent, parseEvents, LIMITS } from '../../src/domain';

const fails = (value: unknown, message: RegExp) =>
  expect(() => parseEvent(value, 'line 3')).toThrow(expect.objectContaining({ code: 'INVALID_EVENT', message: expect.stringMatching(message) }));

describe('event validation', () => {
  it('accepts every event type of the CLI contract', () => {
    const all = [
      { type: 'message', role: 'assistant', content: 'x', name: 'bot', toolCallId: 'c', usage: { promptTokens: 1, completionTokens: 2 }, costUsd: 0.1 },
      { type: 'tool_call', callId: 'c', tool: 't', input: [1, { a: null }] },
      { type: 'tool_result', callId: 'c', output: 'ok', summary: 's', durationMs: 3, isError: true },
      { type: 'state_patch', scope: 'world', patch: { a: { b: null } } },
      { type: 'task', task: null },
      { type: 'summary', content: 's', throughSeq: 4, correlationId: 'corr', idempotencyKey: 'k' },
    ];
    expect(parseEvents(all)).toHaveLength(6);
  });

  it('accepts the OpenAI integration types, and refuses their malformed forms', () => {
    const all = [
      { type: 'message', role: 'assistant', content: '', model: 'gpt-4o', latencyMs: 812 },
      { type: 'model_error', model: 'gpt-4o', message: 'overloaded', status: 503, code: 'server_error', latencyMs: 40, stream: true, partialContent: 'Your bal' },
      { type: 'agent_item', item: { role: 'user', content: 'hi' } },
      { type: 'retraction', reason: 'pop', fromSeq: 3, toSeq: 3 },
    ];
    expect(parseEvents(all)).toHaveLength(4);
    fails({ type: 'agent_item', item: 'hi' }, /^line 3: item:/);
    fails({ type: 'retraction', reason: 'undo', fromSeq: 1, toSeq: 1 }, /^line 3: reason:/);
    fails({ type: 'retraction', reason: 'pop', fromSeq: 0, toSeq: 1 }, /^line 3: fromSeq:/);
    fails({ type: 'model_error', model: 'm', message: 'x'.repeat(2001) }, /^line 3: message: too large/);
    fails({ type: 'message', role: 'assistant', content: 'x', latencyMs: -1 }, /^line 3: latencyMs:/);
  });

  it('names the line and the unknown field', () => fails({ type: 'task', task: 'x', colour: 'red' }, /^line 3: colour: unknown field$/));
  it('names an unknown type', () => fails({ type: 'memo', content: 'x' }, /^line 3: type: .*unknown event type|^line 3: type/));
  it('names a missing field', () => fails({ type: 'message', role: 'user' }, /^line 3: content: required field missing$/));
  it('names a field of the wrong type', () => fails({ type: 'message', role: 'user', content: 5 }, /^line 3: content: expected string$/));
  it('refuses an unknown role', () => fails({ type: 'message', role: 'admin', content: 'x' }, /^line 3: role:/));
  it('refuses a patch that is not an object', () => fails({ type: 'state_patch', scope: 'tool', patch: [1] }, /^line 3: patch:/));
  it('refuses negative token counts', () => fails({ type: 'message', role: 'user', content: 'x', usage: { promptTokens: -1, completionTokens: 0 } }, /usage.promptTokens/));
  it('refuses a non-printable correlation id', () => fails({ type: 'task', task: 'x', correlationId: 'a\nb' }, /^line 3: correlationId:/));
  it('refuses something that is not an object', () => fails('hello', /^line 3:/));

  it('refuses oversize content, saying the limit and not the content', () => {
    const big = 'x'.repeat(LIMITS.maxEventBytes);
    expect(() => parseEvent({ type: 'message', role: 'user', content: big }, 'line 1')).toThrow(
      expect.objectContaining({ code: 'INVALID_EVENT', message: expect.stringMatching(/over the limit of 1048576 bytes$/) }),
    );
  });

  it('refuses an empty batch and one over the count limit', () => {
    expect(() => parseEvents([])).toThrow(expect.objectContaining({ code: 'INVALID_EVENT' }));
    const many = Array.from({ length: LIMITS.maxBatchEvents + 1 }, () => ({ type: 'task', task: null }));
    expect(() => parseEvents(many)).toThrow(expect.objectContaining({ code: 'INVALID_EVENT', message: expect.stringMatching(/over the limit/) }));
  });
});
