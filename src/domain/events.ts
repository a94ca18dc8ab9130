import { z } from 'zod';
import { InputError } from '../errors';
import { LIMITS } from './limits';
import { jsonBytes, jsonBytesAtMost } from './json-size';
import { TOKEN_PATTERN } from './ids';

/**
 * The event types a session holds, validated at the boundary with zod.
 * Schemas are strict: unknown fields are refused, so a typo never silently drops data.
 */
export const EVENT_TYPES = ['message', 'tool_call', 'tool_result', 'state_patch', 'task', 'summary', 'model_error', 'agent_item', 'retraction', 'instructions', 'usage', 'graph_checkpoint', 'graph_writes'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Events only the vault itself writes, never accepted as input: `key_shredded` closes a
 * session's chain when its key is destroyed (who, when, why, in clear).
 */
export const SYSTEM_EVENT_TYPES = ['key_shredded'] as const;
/** Every type a stored event can have. */
export const STORED_EVENT_TYPES = [...EVENT_TYPES, ...SYSTEM_EVENT_TYPES] as const;
export type StoredEventType = (typeof STORED_EVENT_TYPES)[number];

export const MESSAGE_ROLES = ['system', 'developer', 'user', 'assistant', 'tool'] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

/** Names, ids and tool names: no control characters (NUL cannot be stored in a text column; the rest can fool a terminal). */
const short = z
  .string()
  .min(1)
  .max(LIMITS.maxShortField)
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'control characters are not allowed');
const token = z.string().regex(TOKEN_PATTERN, 'expected 1..128 printable ASCII characters');
/**
 * Numbers that go to clear columns are canonical at the boundary: -0 (which `JSON.parse`
 * produces from "-0", and `String(-0)` then turns into "0" on the way to Postgres)
 * becomes 0, so what is hashed is what is stored.
 */
const canonical = (n: number): number => (n === 0 ? 0 : n);
const count = z.number().int().nonnegative().max(2 ** 31 - 1).transform(canonical);
const jsonObject = z.record(z.string(), z.json());

const common = {
  correlationId: token.optional(),
  idempotencyKey: token.optional(),
};

export const messageEvent = z.strictObject({
  type: z.literal('message'),
  role: z.enum(MESSAGE_ROLES),
  content: z.string(),
  name: short.optional(),
  toolCallId: short.optional(),
  usage: z.strictObject({ promptTokens: count, completionTokens: count }).optional(),
  costUsd: z.number().nonnegative().finite().transform(canonical).optional(),
  /** The model that wrote an assistant message, and how long the call took. */
  model: short.optional(),
  latencyMs: count.optional(),
  ...common,
});

export const toolCallEvent = z.strictObject({
  type: z.literal('tool_call'),
  callId: short,
  tool: short,
  input: z.json(),
  ...common,
});

export const toolResultEvent = z.strictObject({
  type: z.literal('tool_result'),
  callId: short,
  output: z.json(),
  summary: z.string().optional(),
  durationMs: count.optional(),
  isError: z.boolean().optional(),
  ...common,
});

export const statePatchEvent = z.strictObject({
  type: z.literal('state_patch'),
  scope: z.enum(['tool', 'world']),
  patch: jsonObject,
  ...common,
});

export const taskEvent = z.strictObject({
  type: z.literal('task'),
  task: z.string().nullable(),
  ...common,
});

export const summaryEvent = z.strictObject({
  type: z.literal('summary'),
  content: z.string(),
  throughSeq: z.number().int().positive(),
  ...common,
});

/** A model call that failed: recorded so a turn's record is never lost (src/integrations/openai/chat.ts). */
export const modelErrorEvent = z.strictObject({
  type: z.literal('model_error'),
  model: short,
  message: z.string().max(2000),
  status: count.optional(),
  code: short.optional(),
  latencyMs: count.optional(),
  stream: z.boolean().optional(),
  /** What a stream had delivered before it failed. */
  partialContent: z.string().optional(),
  ...common,
});

/** One item of an OpenAI Agents SDK session, as the SDK handed it over. */
export const agentItemEvent = z.strictObject({
  type: z.literal('agent_item'),
  item: jsonObject,
  ...common,
});

/** Takes back the agent items with seq in fromSeq..toSeq (the SDK's popItem and clearSession); the events stay. */
export const retractionEvent = z.strictObject({
  type: z.literal('retraction'),
  reason: z.enum(['pop', 'clear']),
  fromSeq: z.number().int().positive(),
  toSeq: z.number().int().positive(),
  ...common,
});

/**
 * What the model was told besides the conversation: the system prompt and the facts
 * remembered about the user, recorded (sealed) whenever they change, so the vault shows
 * the instructions every later model call had (src/integrations/openai/chat.ts).
 */
export const instructionsEvent = z.strictObject({
  type: z.literal('instructions'),
  systemPrompt: z.string().nullable(),
  facts: z.array(z.string()).max(1000),
  ...common,
});

/** Tokens and cost of model calls recorded apart from a message (an Agents SDK run's totals). Clear columns, as a message's. */
export const usageEvent = z.strictObject({
  type: z.literal('usage'),
  model: short,
  requests: count.optional(),
  usage: z.strictObject({ promptTokens: count, completionTokens: count }),
  costUsd: z.number().nonnegative().finite().transform(canonical).optional(),
  ...common,
});

/**
 * A LangGraph value as the graph's serializer wrote it: its type tag and bytes (base64).
 * The vault seals it like any content and never interprets it.
 */
const serialized = z.strictObject({ t: z.string().max(64), b: z.base64() });
const channelName = z.string().min(1).max(LIMITS.maxShortField);
const channelVersion = z.union([z.string().max(256), z.number().finite()]);

/**
 * A LangGraph checkpoint (src/integrations/langgraph/): the checkpoint without its
 * channel values, its metadata, the values of the channels that changed (`blobs`,
 * by channel, at their new version), and where each unchanged channel's value is
 * (`refs`: the seq of the earlier graph_checkpoint holding it), so the latest
 * checkpoint is read in constant time. Everything but the type is sealed.
 */
export const graphCheckpointEvent = z.strictObject({
  type: z.literal('graph_checkpoint'),
  threadId: z.string().min(1).max(LIMITS.maxShortField),
  ns: z.string().max(LIMITS.maxShortField),
  checkpointId: short,
  parentId: short.nullable(),
  checkpoint: serialized,
  metadata: serialized,
  blobs: z.record(channelName, z.strictObject({ version: channelVersion, value: serialized })),
  refs: z.record(channelName, z.strictObject({ version: channelVersion, seq: z.number().int().positive() })),
  ...common,
});

/** Pending writes of one task against one LangGraph checkpoint (putWrites), in the task's order. */
export const graphWritesEvent = z.strictObject({
  type: z.literal('graph_writes'),
  ns: z.string().max(LIMITS.maxShortField),
  checkpointId: short,
  taskId: z.string().max(LIMITS.maxShortField),
  taskPath: z.string().max(LIMITS.maxShortField),
  writes: z.array(z.strictObject({ idx: z.number().int(), channel: channelName, value: serialized })).max(10_000),
  ...common,
});

export const eventInput = z.discriminatedUnion('type', [
  messageEvent,
  toolCallEvent,
  toolResultEvent,
  statePatchEvent,
  taskEvent,
  summaryEvent,
  modelErrorEvent,
  agentItemEvent,
  retractionEvent,
  instructionsEvent,
  usageEvent,
  graphCheckpointEvent,
  graphWritesEvent,
]);

/** An event as a caller hands it to `append`. */
export type EventInput = z.infer<typeof eventInput>;
export type MessageEvent = z.infer<typeof messageEvent>;
export type ToolCallEvent = z.infer<typeof toolCallEvent>;
export type ToolResultEvent = z.infer<typeof toolResultEvent>;
export type StatePatchEvent = z.infer<typeof statePatchEvent>;
export type TaskEvent = z.infer<typeof taskEvent>;
export type SummaryEvent = z.infer<typeof summaryEvent>;

/** The payload of an event: every field but `type`, `correlationId` and `idempotencyKey`. */
export type EventData = Record<string, unknown>;

/**
 * Validates one event. `where` prefixes the message (e.g. "line 3") so a caller with
 * many events learns which one failed. Throws InputError(INVALID_EVENT) naming the
 * field and the rule, never the value.
 */
export function parseEvent(value: unknown, where = 'event'): EventInput {
  return checkedEvent(value, where).event;
}

/**
 * parseEvent, and the event's size as JSON or a bound on it (json-size.ts), which the
 * batch limit adds up: measured exactly only where the bound does not clear the limit.
 */
function checkedEvent(value: unknown, where: string): { event: EventInput; bytes: number } {
  checkShape(value, where);
  const result = eventInput.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.length > 0 ? issue.path.join('.') : issueField(issue);
    throw new InputError('INVALID_EVENT', `${where}: ${field}: ${issueMessage(issue)}`);
  }
  const atMost = jsonBytesAtMost(result.data);
  const bytes = atMost <= LIMITS.maxEventBytes ? atMost : jsonBytes(result.data);
  if (bytes > LIMITS.maxEventBytes) {
    throw new InputError(
      'INVALID_EVENT',
      `${where}: event is ${bytes} bytes, over the limit of ${LIMITS.maxEventBytes} bytes`,
    );
  }
  return { event: result.data, bytes };
}

/** Validates a batch: each event, then the batch's count and total size. */
export function parseEvents(values: readonly unknown[], label: (i: number) => string = (i) => `event ${i + 1}`): EventInput[] {
  if (values.length === 0) throw new InputError('INVALID_EVENT', 'no events to append');
  if (values.length > LIMITS.maxBatchEvents) {
    throw new InputError('INVALID_EVENT', `${values.length} events in one batch, over the limit of ${LIMITS.maxBatchEvents}`);
  }
  let atMost = 0;
  const events = values.map((v, i) => {
    const { event, bytes } = checkedEvent(v, label(i));
    atMost += bytes;
    return event;
  });
  if (atMost > LIMITS.maxBatchBytes) {
    // The bounds do not clear the limit: measure.
    const total = events.reduce((n, e) => n + jsonBytes(e), 0);
    if (total > LIMITS.maxBatchBytes) {
      throw new InputError('INVALID_EVENT', `batch is ${total} bytes, over the limit of ${LIMITS.maxBatchBytes} bytes`);
    }
  }
  return events;
}

/**
 * Before any schema runs: nesting no deeper than LIMITS.maxDepth (a 5000-deep document
 * would overflow the stack of every recursive reader after us), and no `__proto__`
 * member, which JavaScript objects cannot carry as data (it would be silently dropped or
 * change the object's prototype), so it is refused rather than lost. Iterative: no input
 * can make this overflow.
 */
function checkShape(value: unknown, where: string): void {
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: '' }];
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= LIMITS.maxDepth) throw new InputError('INVALID_EVENT', `${where}: ${path || 'event'}: nested deeper than ${LIMITS.maxDepth} levels`);
    if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push({ v: x, depth: depth + 1, path: `${path}${path ? '.' : ''}${i}` }));
      continue;
    }
    for (const key of Object.keys(v)) {
      const at = `${path}${path ? '.' : ''}${key}`;
      if (key === '__proto__') throw new InputError('INVALID_EVENT', `${where}: ${at}: "__proto__" is not allowed as a member name`);
      stack.push({ v: (v as Record<string, unknown>)[key], depth: depth + 1, path: at });
    }
  }
}

function issueField(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return issue.keys.join(', ');
  return 'type';
}

function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return 'unknown field';
    case 'invalid_union':
      return `unknown event type (expected one of ${EVENT_TYPES.join(', ')})`;
    case 'too_big':
      return `too large (limit ${String(issue.maximum)})`;
    case 'invalid_type':
      return /received undefined$/.test(issue.message) ? 'required field missing' : `expected ${issue.expected}`;
    default:
      return issue.message;
  }
}

/** Splits an input event into its envelope (type, correlation, idempotency) and its data. */
export function eventData(event: EventInput): EventData {
  const { type: _type, correlationId: _c, idempotencyKey: _i, ...data } = event;
  return data;
}
