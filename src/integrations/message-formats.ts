import { z } from 'zod';
import type { EventInput, VaultEvent } from '../domain';
import { InputError } from '../errors';

/**
 * Chat histories agents commonly keep in JSON files, and their mapping to vault events
 * (pure). Two formats:
 * - `openai-messages`: an array of Chat Completions messages `{role, content, name?,
 *   tool_call_id?, tool_calls?}` (what agents dump to agent_memory.json);
 * - `autogen`: a saved AutoGen message list (`role`, `content`, `name` of the agent,
 *   `tool_calls`), `role` defaulting to assistant as AutoGen's own lists allow.
 * Mapping: each message becomes a `message` event; an assistant's `tool_calls` become
 * `tool_call` events after it; a `tool` message also becomes the `tool_result` of its call.
 * `toOpenAiMessages` maps events back, so import → export round-trips.
 */
export type MessageFormat = 'openai-messages' | 'autogen';
type Json = z.infer<ReturnType<typeof z.json>>;
export const MESSAGE_FORMATS: readonly MessageFormat[] = ['openai-messages', 'autogen'];

const contentPart = z.object({ type: z.string(), text: z.string().optional() }).loose();
const content = z.union([z.string(), z.array(contentPart), z.null()]);
const toolCall = z.object({
  id: z.string().min(1),
  type: z.literal('function').optional(),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

const openAiMessage = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: content.optional(),
  name: z.string().min(1).optional(),
  tool_call_id: z.string().min(1).optional(),
  tool_calls: z.array(toolCall).optional(),
});

const autogenMessage = openAiMessage.extend({
  role: z.enum(['system', 'user', 'assistant', 'tool', 'function']).default('assistant'),
});

type Parsed = z.infer<typeof openAiMessage>;

/** Parses a file's JSON in a format into events; INVALID_EVENT naming the message and field. */
export function importMessages(json: unknown, format: MessageFormat): EventInput[] {
  const schema = format === 'autogen' ? autogenMessage : openAiMessage;
  if (!Array.isArray(json)) throw new InputError('INVALID_EVENT', `${format}: expected a JSON array of messages`);
  if (json.length === 0) throw new InputError('INVALID_EVENT', `${format}: the file holds no messages`);
  const events: EventInput[] = [];
  json.forEach((raw, i) => {
    const r = schema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new InputError('INVALID_EVENT', `message ${i + 1}: ${issue.path.join('.') || '(message)'}: ${issue.message}`);
    }
    const m = { ...r.data, role: r.data.role === 'function' ? 'tool' : r.data.role } as Parsed;
    events.push(...toEvents(m, i));
  });
  return events;
}

function toEvents(m: Parsed, i: number): EventInput[] {
  const absent = m.content === undefined || m.content === null;
  if (absent && !(m.role === 'assistant' && m.tool_calls?.length)) {
    throw new InputError('INVALID_EVENT', `message ${i + 1}: content: required (only an assistant message with tool_calls may omit it)`);
  }
  const text = textOf(m.content);
  const message: EventInput = { type: 'message', role: m.role, content: text };
  if (m.name) message.name = m.name;
  if (m.tool_call_id) message.toolCallId = m.tool_call_id;
  const out: EventInput[] = [message];
  if (m.role === 'assistant') {
    for (const c of m.tool_calls ?? []) out.push({ type: 'tool_call', callId: c.id, tool: c.function.name, input: parseArguments(c.function.arguments) });
  } else if (m.tool_calls?.length) {
    throw new InputError('INVALID_EVENT', `message ${i + 1}: tool_calls: only assistant messages carry tool calls`);
  }
  if (m.role === 'tool') {
    if (!m.tool_call_id) throw new InputError('INVALID_EVENT', `message ${i + 1}: tool_call_id: required on a tool message`);
    out.push({ type: 'tool_result', callId: m.tool_call_id, output: text });
  }
  return out;
}

function textOf(c: Parsed['content']): string {
  if (c === undefined || c === null) return '';
  if (typeof c === 'string') return c;
  return c.map((p) => p.text ?? '').join('');
}

/** Tool arguments are JSON text in this format; keep the value when it parses, the text when not. */
function parseArguments(args: string): Json {
  try {
    return JSON.parse(args) as Json;
  } catch {
    return args;
  }
}

/** An OpenAI Chat Completions message as exported. */
export interface OpenAiMessage {
  role: string;
  content: string | null;
  name?: string;
  tool_call_id?: string;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
}

/**
 * Events back to Chat Completions messages: messages in order, each tool_call attached to
 * the assistant message before it. Tool results are carried by the `tool` messages, and
 * state patches, tasks and summaries have no place in this format; both are left out.
 */
export function toOpenAiMessages(events: Iterable<VaultEvent>): OpenAiMessage[] {
  const out: OpenAiMessage[] = [];
  for (const e of events) {
    const d = e.data as Record<string, unknown>;
    if (e.type === 'message') {
      const m: OpenAiMessage = { role: d.role as string, content: d.content as string };
      if (d.name !== undefined) m.name = d.name as string;
      if (d.toolCallId !== undefined) m.tool_call_id = d.toolCallId as string;
      out.push(m);
    } else if (e.type === 'tool_call') {
      const last = out[out.length - 1];
      const call = { id: d.callId as string, type: 'function' as const, function: { name: d.tool as string, arguments: typeof d.input === 'string' ? d.input : JSON.stringify(d.input) } };
      if (last?.role === 'assistant') {
        (last.tool_calls ??= []).push(call);
        if (last.content === '') last.content = null; // as the API writes a message that only calls tools
      } else out.push({ role: 'assistant', content: null, tool_calls: [call] });
    }
  }
  return out;
}
