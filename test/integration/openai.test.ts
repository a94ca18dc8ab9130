import type { VaultEvent } from '../../src/domain';
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai';
import type { Vault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { RecordedChat, summaryPlusRecent, slidingWindow, UserMemory, VaultAgentSession, fullHistory, type ContextStrategy } from '../../src/integrations/openai';

/**
 * Recorded chat turns through the real `openai` client, pointed at a loopback server that
 * speaks Chat Completions (tools, streaming) — no network, no key.
 */
afterAll(dropCreatedDatabases);

let fake: FakeOpenAI;
let client: OpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
  client = new OpenAI({ apiKey: 'test-key', baseURL: fake.baseURL, maxRetries: 0 });
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

/** A logger whose lines the test can read. */
function capturedLogger(): { logger: ReturnType<typeof createLogger>; lines: any[] } {
  const lines: any[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

describe.each(backends())('recorded OpenAI chat turns with a $name database', (backend) => {
  let vault: Vault;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ vault, close } = await testVault(backend));
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  const tools = {
    balance: {
      description: 'Account balance',
      parameters: { type: 'object', properties: { account: { type: 'string' } }, required: ['account'] },
      run: async (input: { account: string }) => ({ account: input.account, eur: 1200 }),
      summarize: (o: unknown) => `balance ${(o as { eur: number }).eur} EUR`,
    },
    rates: {
      parameters: { type: 'object', properties: {} },
      run: () => ({ savings: 0.02 }),
    },
    broken: {
      parameters: { type: 'object', properties: {} },
      run: () => {
        throw new Error('core banking timed out');
      },
    },
  };

  it('records a turn with two tool calls in order under one correlation id; replay gives what the model saw', async () => {
    const { logger, lines } = capturedLogger();
    const session = vault.session('bank', 'turn-1');
    const chat = new RecordedChat({ client, session, model: 'gpt-4o-mini', systemPrompt: 'You are a bank assistant.', tools, logger });
    fake.reply(
      { kind: 'tools', calls: [{ id: 'call_a', name: 'balance', arguments: { account: 'DE01' } }, { id: 'call_b', name: 'rates', arguments: {} }], usage: { prompt: 100, completion: 20 } },
      { kind: 'text', text: 'You have 1200 EUR; savings pay 2%.', usage: { prompt: 150, completion: 12 } },
    );
    const before = fake.requests.length;
    const r = await chat.send('What is my balance, and the savings rate?');
    expect(r).toMatchObject({ reply: 'You have 1200 EUR; savings pay 2%.', rounds: 2, usage: { promptTokens: 250, completionTokens: 32 } });
    expect(r.toolCalls.map((c) => [c.tool, c.isError])).toEqual([['balance', false], ['rates', false]]);
    // gpt-4o-mini: $0.15 in, $0.60 out per million tokens.
    expect(r.costUsd).toBeCloseTo((250 * 0.15 + 32 * 0.6) / 1e6, 12);

    const events: VaultEvent[] = [];
    const instructions: VaultEvent[] = [];
    for await (const e of session.events()) (e.type === 'instructions' ? instructions : events).push(e);
    // What the model was told besides the conversation is recorded once, before its first call.
    expect(instructions.map((e) => [e.seq, e.data])).toEqual([[2, { systemPrompt: 'You are a bank assistant.', facts: [] }]]);
    expect(events.map((e) => e.type)).toEqual(['message', 'message', 'tool_call', 'tool_call', 'tool_result', 'tool_result', 'message']);
    expect(new Set(events.map((e) => e.correlationId))).toEqual(new Set([r.correlationId]));
    expect(events[1]!.data).toMatchObject({ role: 'assistant', model: 'gpt-4o-mini', usage: { promptTokens: 100, completionTokens: 20 }, latencyMs: expect.any(Number) });
    expect(events[4]!.data).toMatchObject({ callId: 'call_a', output: { account: 'DE01', eur: 1200 }, summary: 'balance 1200 EUR', isError: false, durationMs: expect.any(Number) });
    // Every log line of the turn carries its correlation id.
    const turnLines = lines.filter((l) => String(l.op).startsWith('chat.'));
    expect(turnLines.length).toBeGreaterThanOrEqual(5);
    expect(turnLines.every((l) => l.correlationId === r.correlationId)).toBe(true);

    // The second model call saw the conversation the vault holds: rebuilt from the vault now, it is the same.
    const sent = fake.requests[before + 1]!.body.messages;
    expect(sent[0]).toEqual({ role: 'system', content: 'You are a bank assistant.' });
    expect(sent[2].tool_calls.map((c: any) => c.function.name)).toEqual(['balance', 'rates']);
    expect(sent[3]).toEqual({ role: 'tool', tool_call_id: 'call_a', content: 'balance 1200 EUR' }); // by its summary
    const rebuilt = await fullHistory().build({ events: events.slice(0, 6), systemPrompt: 'You are a bank assistant.' }, null as never);
    expect(rebuilt).toEqual(sent);
    const state = await session.state();
    expect(state.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'What is my balance, and the savings rate?'],
      ['assistant', ''],
      ['assistant', 'You have 1200 EUR; savings pay 2%.'],
    ]);
    expect(state.toolCalls.map((c) => [c.tool, c.output])).toEqual([['balance', { account: 'DE01', eur: 1200 }], ['rates', { savings: 0.02 }]]);
    expect(state.usage.costUsd).toBeCloseTo(r.costUsd, 12);
  });

  it('records a tool that throws as an error result, and the model sees the error', async () => {
    const session = vault.session('bank', 'turn-2');
    const chat = new RecordedChat({ client, session, model: 'gpt-4o', tools, logger: createLogger({ level: 'silent' }), prices: { 'gpt-4o': { inputPerMTok: 1, outputPerMTok: 1 } } });
    fake.reply({ kind: 'tools', calls: [{ id: 'c1', name: 'broken', arguments: {} }, { id: 'c2', name: 'nope', arguments: {} }] }, { kind: 'text', text: 'Sorry, the system is down.' });
    const before = fake.requests.length;
    const r = await chat.send('Transfer 10 EUR');
    expect(r.toolCalls).toEqual([{ callId: 'c1', tool: 'broken', isError: true }, { callId: 'c2', tool: 'nope', isError: true }]);
    expect(r.costUsd).toBeCloseTo((20 + 10) / 1e6, 12); // the price table override
    const state = await session.state();
    expect(state.toolCalls.map((c) => c.output)).toEqual([{ error: 'core banking timed out' }, { error: 'unknown tool nope' }]);
    expect(fake.requests[before + 1]!.body.messages.filter((m: any) => m.role === 'tool').map((m: any) => m.content)).toEqual([
      '{"error":"core banking timed out"}',
      '{"error":"unknown tool nope"}',
    ]);
  });

  it('stops a turn whose model keeps calling tools, with everything so far recorded', async () => {
    expect(() => new RecordedChat({ client, session: vault.session('bank', 'x'), model: 'm', maxRounds: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    const session = vault.session('bank', 'turn-loop');
    const chat = new RecordedChat({ client, session, model: 'gpt-4o', tools, maxRounds: 2, logger: createLogger({ level: 'silent' }) });
    const again = (id: string) => ({ kind: 'tools' as const, calls: [{ id, name: 'rates', arguments: {} }] });
    fake.reply(again('l1'), again('l2'));
    await expect(chat.send('Loop?')).rejects.toMatchObject({ code: 'TOOL_LOOP_LIMIT', category: 'input' });
    const state = await session.state();
    expect(state.toolCalls.map((c) => [c.callId, c.resultSeq !== null])).toEqual([['l1', true], ['l2', true]]);
  });

  it('records a model error and surfaces it; nothing of the turn is lost', async () => {
    const session = vault.session('bank', 'turn-3');
    const chat = new RecordedChat({ client, session, model: 'gpt-4o', logger: createLogger({ level: 'silent' }) });
    fake.reply({ kind: 'error', status: 500, message: 'upstream overloaded' });
    await expect(chat.send('Hello?')).rejects.toMatchObject({ code: 'MODEL_UNAVAILABLE', category: 'storage' });
    const state = await session.state();
    expect(state.messages.map((m) => m.content)).toEqual(['Hello?']);
    expect(state.modelErrors).toEqual([expect.objectContaining({ model: 'gpt-4o', status: 500 })]);
    // The next turn goes on from there.
    fake.reply({ kind: 'text', text: 'Here now.' });
    expect((await chat.send('Hello again?')).reply).toBe('Here now.');
  });

  it('records a streamed reply when the stream completes, and a broken stream with what it delivered', async () => {
    const session = vault.session('bank', 'turn-4');
    const deltas: string[] = [];
    const chat = new RecordedChat({ client, session, model: 'gpt-4o-mini', stream: true, tools, onDelta: (d) => deltas.push(d), logger: createLogger({ level: 'silent' }) });
    fake.reply({ kind: 'tools', calls: [{ id: 's1', name: 'rates', arguments: {} }] }, { kind: 'text', text: 'Savings pay two percent.', usage: { prompt: 30, completion: 6 } });
    const r = await chat.send('Rates?');
    expect(r.reply).toBe('Savings pay two percent.');
    expect(deltas.join('')).toBe('Savings pay two percent.');
    expect(deltas.length).toBeGreaterThan(1);
    expect(r.usage.promptTokens).toBe(40);
    fake.reply({ kind: 'broken-stream', deltas: ['Your balance ', 'is'] });
    await expect(chat.send('Balance?')).rejects.toMatchObject({ code: 'MODEL_UNAVAILABLE' });
    const state = await session.state();
    expect(state.messages.map((m) => m.content)).toEqual(['Rates?', '', 'Savings pay two percent.', 'Balance?']);
    const events = [];
    for await (const e of session.events()) events.push(e);
    expect(events[events.length - 1]).toMatchObject({ type: 'model_error', data: { stream: true, partialContent: 'Your balance is' } });
  });

  it('summary + recent sends the summary and the recent messages, and records the summary event', async () => {
    const session = vault.session('bank', 'turn-5');
    const chat = new RecordedChat({ client, session, model: 'gpt-4o-mini', context: summaryPlusRecent({ keepRecent: 2, summarizeAfter: 2 }), logger: createLogger({ level: 'silent' }) });
    for (const q of ['one', 'two']) {
      fake.reply({ kind: 'text', text: `answer ${q}` });
      await chat.send(`question ${q}`);
    }
    // 5 messages now: the 3 older than the last 2 are more than summarizeAfter (2) → summarised.
    fake.reply({ kind: 'text', text: 'SUMMARY: asked one and two' }, { kind: 'text', text: 'answer three' });
    const before = fake.requests.length;
    await chat.send('question three');
    const summaryRequest = fake.requests[before]!.body.messages;
    expect(summaryRequest[summaryRequest.length - 1].content).toBe('user: question one\nassistant: answer one\nuser: question two');
    expect(fake.requests[before + 1]!.body.messages).toEqual([
      { role: 'system', content: 'Summary of the earlier conversation:\nSUMMARY: asked one and two' },
      { role: 'assistant', content: 'answer two' },
      { role: 'user', content: 'question three' },
    ]);
    const state = await session.state();
    expect(state.summary).toEqual({ content: 'SUMMARY: asked one and two', throughSeq: 3 });
    // The next turn reuses it: no new summary until enough piles up again.
    fake.reply({ kind: 'text', text: 'answer four' });
    const n = fake.requests.length;
    await chat.send('question four');
    expect(fake.requests.length).toBe(n + 1);
  });

  it('a sliding window reads the tail of a long session and sends what every event would give', async () => {
    const session = vault.session('bank', 'long-chat');
    await session.append({ type: 'message', role: 'system', content: 'You are the bank.' });
    for (let i = 0; i < 6; i++) {
      await session.appendMany(Array.from({ length: 100 }, (_, k) => ({ type: 'message', role: k % 2 ? 'assistant' : 'user', content: `turn ${i}-${k}` })));
    }
    const window = slidingWindow({ lastN: 4 });
    const seen: number[] = [];
    const spy: ContextStrategy = { name: 'spy', reach: window.reach!, build: (request, services) => (seen.push(request.events.length), window.build(request, services)) };
    const chat = new RecordedChat({ client, session, model: 'gpt-4o-mini', systemPrompt: 'Be brief.', context: spy, logger: createLogger({ level: 'silent' }) });
    fake.reply({ kind: 'text', text: 'ok' });
    const before = fake.requests.length;
    await chat.send('What now?');
    const all = [];
    for await (const e of session.events()) if (e.seq < (await session.headSeq())) all.push(e);
    expect(fake.requests[before]!.body.messages).toEqual(await window.build({ events: all, systemPrompt: 'Be brief.' }, { summarize: async () => '', recordSummary: async () => {} }));
    expect(fake.requests[before]!.body.messages[1]).toEqual({ role: 'system', content: 'You are the bank.' });
    expect(seen[0]).toBeLessThan(20); // of 603 events
  });

  it('remembers facts across sessions, injects the top ones, and forgets them by shredding', async () => {
    const memory = new UserMemory(vault, 'bank');
    await memory.remember('user-7', 'prefers English', 0.4);
    await memory.remember('user-7', 'has a mortgage with us', 0.9);
    const noise = await memory.remember('user-7', 'likes cats', 0.1);
    expect((await memory.facts('user-7')).map((f) => f.text)).toEqual(['has a mortgage with us', 'prefers English', 'likes cats']);
    const chat = new RecordedChat({ client, session: vault.session('bank', 'turn-6'), model: 'gpt-4o-mini', systemPrompt: 'Be brief.', memory: { store: memory, userRef: 'user-7', topK: 2 }, logger: createLogger({ level: 'silent' }) });
    fake.reply({ kind: 'text', text: 'ok' });
    const before = fake.requests.length;
    await chat.send('hi');
    expect(fake.requests[before]!.body.messages[0]).toEqual({ role: 'system', content: 'Be brief.\n\nWhat you know about this user:\n- has a mortgage with us\n- prefers English' });
    // Forgetting one fact moves the others to a new generation and shreds the old one.
    expect(await memory.forget('user-7', { actor: 'dpo', reason: 'customer request' }, noise.id)).toEqual({ forgotten: 1 });
    expect((await memory.facts('user-7')).map((f) => f.text)).toEqual(['has a mortgage with us', 'prefers English']);
    await expect(vault.session('bank', 'memory:user-7:g1').state()).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    expect(await memory.forget('user-7', { actor: 'dpo', reason: 'erasure' })).toEqual({ forgotten: 2 });
    expect(await memory.facts('user-7')).toEqual([]);
    await expect(vault.session('bank', 'memory:user-7:g2').state()).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    expect(await vault.verify({ tenant: 'bank' })).toMatchObject({ ok: true });
  });

  it('is an Agents SDK session whose popItem and clearSession append retractions that replay honours', async () => {
    const s = new VaultAgentSession(vault.session('bank', 'agent-1'));
    expect(await s.getSessionId()).toBe('agent-1');
    expect(await s.getItems()).toEqual([]);
    const items = [
      { role: 'user', content: 'hello' },
      { type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'hi there' }] },
      { role: 'user', content: 'bye' },
    ] as any[];
    await s.addItems(items);
    expect(await s.getItems()).toEqual(items);
    expect(await s.getItems(2)).toEqual(items.slice(1));
    expect(await s.popItem()).toEqual(items[2]);
    expect(await s.getItems()).toEqual(items.slice(0, 2));
    const state = await vault.session('bank', 'agent-1').state();
    expect(state.messages.map((m) => [m.role, m.content])).toEqual([['user', 'hello'], ['assistant', 'hi there']]);
    await s.clearSession();
    expect(await s.getItems()).toEqual([]);
    expect(await s.popItem()).toBeUndefined();
    const after = await vault.session('bank', 'agent-1').state();
    expect(after.messages).toEqual([]);
    expect(after.lastSeq).toBe(5); // 3 items + 2 retractions: nothing deleted
    expect(await vault.verify({ tenant: 'bank', session: 'agent-1' })).toMatchObject({ ok: true });
  });

  it('keeps an Agents SDK run that calls a tool: items as the SDK gave them, tool call and result in replay', async () => {
    const { Agent, run, tool, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled } = await import('@openai/agents');
    const { z } = await import('zod');
    setTracingDisabled(true);
    setDefaultOpenAIClient(client as never);
    setOpenAIAPI('responses');
    const balance = tool({
      name: 'balance',
      description: 'Account balance',
      parameters: z.object({ account: z.string() }),
      execute: async ({ account }) => `${account}: 1200 EUR`,
    });
    const agent = new Agent({ name: 'teller', instructions: 'Be brief.', model: 'gpt-4.1-mini', tools: [balance] });
    fake.reply({ kind: 'tools', calls: [{ id: 'call_1', name: 'balance', arguments: { account: 'DE01' } }] }, { kind: 'text', text: 'You have 1200 EUR.' });
    const session = new VaultAgentSession(vault.session('bank', 'agent-2'));
    const result = await run(agent, 'Balance of DE01?', { session });
    expect(result.finalOutput).toBe('You have 1200 EUR.');
    const items = await session.getItems();
    expect(items.map((i: any) => i.type ?? 'message')).toEqual(['message', 'function_call', 'function_call_result', 'message']);
    const state = await vault.session('bank', 'agent-2').state();
    expect(state.toolCalls).toEqual([expect.objectContaining({ callId: 'call_1', tool: 'balance', input: { account: 'DE01' }, output: 'DE01: 1200 EUR' })]);
    expect(state.messages.map((m) => m.content)).toEqual(['Balance of DE01?', 'You have 1200 EUR.']);
  });

  it("records an Agents SDK run's usage and cost from its result", async () => {
    const { Agent, run, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled } = await import('@openai/agents');
    setTracingDisabled(true);
    setDefaultOpenAIClient(client as never);
    setOpenAIAPI('responses');
    const agent = new Agent({ name: 'teller', instructions: 'Be brief.', model: 'gpt-4o-mini' });
    fake.reply({ kind: 'text', text: 'Hello.', usage: { prompt: 1000, completion: 200 } });
    const session = new VaultAgentSession(vault.session('bank', 'agent-usage'));
    const result = await run(agent, 'Hi', { session });
    const recorded = await session.recordRun(result);
    // gpt-4o-mini: $0.15 in, $0.60 out per million tokens.
    expect(recorded).toEqual({ promptTokens: 1000, completionTokens: 200, costUsd: (1000 * 0.15 + 200 * 0.6) / 1e6 });
    const state = await vault.session('bank', 'agent-usage').state();
    expect(state.usage).toEqual({ promptTokens: 1000, completionTokens: 200, costUsd: (1000 * 0.15 + 200 * 0.6) / 1e6 });
    expect((await session.getItems()).length).toBe(2); // the usage event is not an SDK item
    await expect(session.recordRun({} as never)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('records the instructions once per change: same prompt and facts, no new record', async () => {
    const session = vault.session('bank', 'instr');
    const memory = new UserMemory(vault, 'bank');
    const chat = (prompt: string) => new RecordedChat({ client, session, model: 'gpt-4o-mini', systemPrompt: prompt, memory: { store: memory, userRef: 'cust-9' } });
    for (let i = 0; i < 4; i++) fake.reply({ kind: 'text', text: `r${i}` });
    await chat('Be brief.').send('one');
    await chat('Be brief.').send('two');
    await memory.remember('cust-9', 'prefers German');
    await chat('Be brief.').send('three');
    await chat('Be very brief.').send('four');
    const recorded = [];
    for await (const e of session.events()) if (e.type === 'instructions') recorded.push(e.data);
    expect(recorded).toEqual([
      { systemPrompt: 'Be brief.', facts: [] },
      { systemPrompt: 'Be brief.', facts: ['prefers German'] },
      { systemPrompt: 'Be very brief.', facts: ['prefers German'] },
    ]);
  });
});
