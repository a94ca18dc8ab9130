import http from 'node:http';

/**
 * A loopback HTTP server that speaks the parts of the OpenAI API the vault's integrations
 * use: Chat Completions (plain, with tool calls, and streamed as server-sent events) and
 * the Responses API the Agents SDK calls. Tests script its replies and read back every
 * request it received. Nothing leaves the machine; any API key is accepted.
 */
export interface FakeOpenAI {
  /** `http://127.0.0.1:<port>/v1`, for the client's baseURL. */
  baseURL: string;
  /** Every request body received, in order, with its path. */
  requests: { path: string; body: any }[];
  /** Queue the next replies (consumed in order; when empty, the default reply is used). */
  reply(...replies: FakeReply[]): void;
  /** Drops queued replies (between tests, so one failure does not shift the next test's replies). */
  reset(): void;
  close(): Promise<void>;
}

/** One scripted reply. */
export type FakeReply =
  | { kind: 'text'; text: string; usage?: { prompt: number; completion: number } }
  | { kind: 'tools'; calls: { id: string; name: string; arguments: unknown }[]; usage?: { prompt: number; completion: number } }
  | { kind: 'error'; status: number; message: string }
  /** For streamed requests: send these text deltas, then break the connection. */
  | { kind: 'broken-stream'; deltas: string[] };

export async function startFakeOpenAI(defaultReply: (body: any) => FakeReply = () => ({ kind: 'text', text: 'ok' })): Promise<FakeOpenAI> {
  const queue: FakeReply[] = [];
  const requests: { path: string; body: any }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: any = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        body = {};
      }
      const path = (req.url ?? '').replace(/\?.*$/, '');
      requests.push({ path, body });
      const reply = queue.shift() ?? defaultReply(body);
      if (reply.kind === 'error') {
        res.writeHead(reply.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: reply.message, type: 'server_error', code: 'fake_error' } }));
        return;
      }
      if (path.endsWith('/chat/completions')) return chat(body, reply, res);
      if (path.endsWith('/responses')) return responses(body, reply, res);
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'not found' } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    reply: (...r) => queue.push(...r),
    reset: () => queue.splice(0),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let ids = 0;
const id = (p: string) => `${p}_${++ids}`;

function chat(body: any, reply: FakeReply, res: http.ServerResponse): void {
  const model = body.model ?? 'fake-model';
  const usage = 'usage' in reply && reply.usage ? reply.usage : { prompt: 10, completion: 5 };
  const message =
    reply.kind === 'tools'
      ? {
          role: 'assistant',
          content: null,
          tool_calls: reply.calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments) } })),
        }
      : { role: 'assistant', content: reply.kind === 'text' ? reply.text : '' };
  const finish = reply.kind === 'tools' ? 'tool_calls' : 'stop';
  const u = { prompt_tokens: usage.prompt, completion_tokens: usage.completion, total_tokens: usage.prompt + usage.completion };
  const cid = id('chatcmpl');
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: cid, object: 'chat.completion', created: 1, model, choices: [{ index: 0, message, finish_reason: finish, logprobs: null }], usage: u }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (delta: unknown, finishReason: string | null = null, extra: object = {}) =>
    res.write(`data: ${JSON.stringify({ id: cid, object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }], ...extra })}\n\n`);
  send({ role: 'assistant', content: '' });
  if (reply.kind === 'broken-stream') {
    for (const d of reply.deltas) send({ content: d });
    setTimeout(() => res.socket?.destroy(), 100); // the connection drops mid-answer
    return;
  }
  if (reply.kind === 'tools') {
    reply.calls.forEach((c, index) => {
      send({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] });
      send({ tool_calls: [{ index, function: { arguments: JSON.stringify(c.arguments) } }] });
    });
  } else if (reply.kind === 'text') {
    for (const piece of reply.text.match(/.{1,4}/gs) ?? []) send({ content: piece });
  }
  send({}, finish);
  if (body.stream_options?.include_usage) {
    res.write(`data: ${JSON.stringify({ id: cid, object: 'chat.completion.chunk', created: 1, model, choices: [], usage: u })}\n\n`);
  }
  res.write('data: [DONE]\n\n');
  res.end();
}

function responses(body: any, reply: FakeReply, res: http.ServerResponse): void {
  const model = body.model ?? 'fake-model';
  const usage = 'usage' in reply && reply.usage ? reply.usage : { prompt: 10, completion: 5 };
  const output =
    reply.kind === 'tools'
      ? reply.calls.map((c) => ({ type: 'function_call', id: id('fc'), call_id: c.id, name: c.name, arguments: JSON.stringify(c.arguments), status: 'completed' }))
      : [
          {
            type: 'message',
            id: id('msg'),
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: reply.kind === 'text' ? reply.text : '', annotations: [] }],
          },
        ];
  const response = {
    id: id('resp'),
    object: 'response',
    created_at: 1,
    model,
    status: 'completed',
    output,
    output_text: reply.kind === 'text' ? reply.text : '',
    parallel_tool_calls: true,
    tool_choice: 'auto',
    tools: [],
    usage: {
      input_tokens: usage.prompt,
      output_tokens: usage.completion,
      total_tokens: usage.prompt + usage.completion,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens_details: { reasoning_tokens: 0 },
    },
  };
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(response));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(`event: response.created\ndata: ${JSON.stringify({ type: 'response.created', response: { ...response, status: 'in_progress', output: [] } })}\n\n`);
  res.write(`event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', response })}\n\n`);
  res.end();
}
