import type { VaultEvent } from '../../domain';
import type { OpenAiMessage } from '../message-formats';

/**
 * Building the model's input from a session's events (docs/openai.md, "Context").
 * Pure: these functions see events and return messages; the one strategy that needs
 * the model (summary + recent) gets a summariser and a recorder from the caller.
 *
 * The unit of context is a *group*: one message, or an assistant message that calls tools
 * together with the tool messages answering it. Windows and budgets cut between groups,
 * never inside one, so the model never sees a tool answer without its call.
 */
export interface ContextGroup {
  /** Seq of the group's first and last event. */
  firstSeq: number;
  lastSeq: number;
  messages: OpenAiMessage[];
}

/** What a strategy needs to build the context of the next model call. */
export interface ContextRequest {
  /** The session's events so far (including the new user message). */
  events: readonly VaultEvent[];
  /** Put first, as the system message. */
  systemPrompt?: string;
  /** Remembered facts about the user, most important first, added to the system message. */
  facts?: readonly string[];
}

/** What summary + recent needs from the caller: the model, and a way to record the summary event. */
export interface ContextServices {
  summarize(messages: OpenAiMessage[], previous: string | null): Promise<string>;
  recordSummary(content: string, throughSeq: number): Promise<void>;
}

/**
 * What of the session a strategy looks at, so the caller can read only that:
 *   - `all` (the default): every event;
 *   - `tail`: the newest `groups` groups, from a group boundary (a user, system or
 *     developer message) before them;
 *   - `sinceSummary`: the groups after the latest summary's `throughSeq`, from a boundary.
 * Besides that part, a caller hands over the recorded system and developer messages and
 * the last `instructions` and `summary` events (the session's landmarks). Given those,
 * a strategy's context is the same as from every event: cutting at a boundary changes no
 * group after it.
 */
export type ContextReach = { kind: 'all' } | { kind: 'tail'; groups: number } | { kind: 'sinceSummary' };

/** A context strategy: events in, Chat Completions messages out. */
export interface ContextStrategy {
  readonly name: string;
  /** What of the session it needs (default: all of it). */
  readonly reach?: ContextReach;
  build(request: ContextRequest, services: ContextServices): Promise<OpenAiMessage[]>;
}

/**
 * A group boundary: a user, system or developer message closes any group before it, so
 * the groups from one on are the same whether the events before it are there or not.
 */
export function isGroupBoundary(e: Pick<VaultEvent, 'type' | 'data'>): boolean {
  const role = (e.data as { role?: unknown }).role;
  return e.type === 'message' && (role === 'user' || role === 'system' || role === 'developer');
}

/**
 * The conversation as groups. Tool outputs enter by their `summary` when they have one
 * (the full output stays in the vault); tool calls attach to the assistant message
 * before them; a tool_result without a tool message of its own (recorded by the turn
 * runner) becomes the tool message.
 */
export function conversationGroups(events: readonly VaultEvent[]): ContextGroup[] {
  const groups: ContextGroup[] = [];
  let open: ContextGroup | null = null; // an assistant group still collecting tool calls and answers
  // A tool_result stands in for a tool message only when its group has none of its own for that call.
  const fromResult = new Map<OpenAiMessage, string>();
  const close = () => {
    if (!open || fromResult.size === 0) return;
    const answered = new Set(open.messages.filter((m) => m.role === 'tool' && !fromResult.has(m)).map((m) => m.tool_call_id));
    open.messages = open.messages.filter((m) => !fromResult.has(m) || !answered.has(fromResult.get(m)));
    fromResult.clear();
  };
  for (const e of events) {
    const d = e.data as Record<string, any>;
    if (e.type === 'message') {
      const m: OpenAiMessage = { role: d.role, content: d.content };
      if (d.name !== undefined) m.name = d.name;
      if (d.toolCallId !== undefined) m.tool_call_id = d.toolCallId;
      if (d.role === 'tool' && open) {
        open.messages.push(m);
        open.lastSeq = e.seq;
        continue;
      }
      close();
      open = d.role === 'assistant' ? { firstSeq: e.seq, lastSeq: e.seq, messages: [m] } : null;
      groups.push(open ?? { firstSeq: e.seq, lastSeq: e.seq, messages: [m] });
    } else if (e.type === 'tool_call') {
      const call = { id: d.callId, type: 'function' as const, function: { name: d.tool, arguments: typeof d.input === 'string' ? d.input : JSON.stringify(d.input) } };
      if (!open) {
        open = { firstSeq: e.seq, lastSeq: e.seq, messages: [{ role: 'assistant', content: null }] };
        groups.push(open);
      }
      const head = open.messages[0]!;
      (head.tool_calls ??= []).push(call);
      if (head.content === '') head.content = null;
      open.lastSeq = e.seq;
    } else if (e.type === 'tool_result' && open) {
      const content = typeof d.summary === 'string' ? d.summary : typeof d.output === 'string' ? d.output : JSON.stringify(d.output);
      const m: OpenAiMessage = { role: 'tool', tool_call_id: d.callId, content };
      fromResult.set(m, d.callId);
      open.messages.push(m);
      open.lastSeq = e.seq;
    }
  }
  close();
  // A call the model made but that has no answer (a crash mid-turn) cannot be sent back: the API refuses it.
  return groups.filter((g) => {
    const calls = g.messages[0]?.tool_calls ?? [];
    const answered = new Set(g.messages.slice(1).map((m) => m.tool_call_id));
    return calls.every((c) => answered.has(c.id));
  });
}

/** The system message: the prompt, then the facts remembered about the user. */
export function systemMessage(request: ContextRequest, summary?: string | null): OpenAiMessage[] {
  const parts: string[] = [];
  if (request.systemPrompt) parts.push(request.systemPrompt);
  if (request.facts && request.facts.length > 0) parts.push(`What you know about this user:\n${request.facts.map((f) => `- ${f}`).join('\n')}`);
  if (summary) parts.push(`Summary of the earlier conversation:\n${summary}`);
  return parts.length > 0 ? [{ role: 'system', content: parts.join('\n\n') }] : [];
}

const flat = (groups: readonly ContextGroup[]) => groups.flatMap((g) => g.messages);
const isSystem = (g: ContextGroup) => g.messages[0]?.role === 'system' || g.messages[0]?.role === 'developer';

/** Every message, in order, after the system message. */
export function fullHistory(): ContextStrategy {
  return {
    name: 'full',
    build: async (request) => [...systemMessage(request), ...flat(conversationGroups(request.events))],
  };
}

/** The system message (and any recorded system messages), then the last `lastN` messages, cut between groups. */
export function slidingWindow(options: { lastN: number }): ContextStrategy {
  if (!Number.isInteger(options.lastN) || options.lastN < 1) throw new RangeError('slidingWindow: lastN must be a positive integer');
  return {
    name: 'window',
    reach: { kind: 'tail', groups: options.lastN },
    build: async (request) => {
      const groups = conversationGroups(request.events);
      return [...systemMessage(request), ...flat(groups.filter(isSystem)), ...flat(lastMessages(groups.filter((g) => !isSystem(g)), options.lastN))];
    },
  };
}

/** The newest groups holding at most `n` messages (at least one group). */
function lastMessages(groups: readonly ContextGroup[], n: number): ContextGroup[] {
  const out: ContextGroup[] = [];
  let count = 0;
  for (let i = groups.length - 1; i >= 0; i--) {
    const g = groups[i]!;
    if (out.length > 0 && count + g.messages.length > n) break;
    out.unshift(g);
    count += g.messages.length;
  }
  return out;
}

/**
 * Summary + recent (the "compact" pattern): once more than `summarizeAfter` messages lie
 * outside the last `keepRecent`, the model summarises them (with the previous summary)
 * and the summary is recorded as a `summary` event — audited like everything else. The
 * context is then the system message carrying the summary, and the messages after it.
 * A summary already recorded is reused until enough new messages pile up again.
 */
export function summaryPlusRecent(options: { keepRecent: number; summarizeAfter: number }): ContextStrategy {
  if (!Number.isInteger(options.keepRecent) || options.keepRecent < 1) throw new RangeError('summaryPlusRecent: keepRecent must be a positive integer');
  if (!Number.isInteger(options.summarizeAfter) || options.summarizeAfter < 1) throw new RangeError('summaryPlusRecent: summarizeAfter must be a positive integer');
  return {
    name: 'summary',
    reach: { kind: 'sinceSummary' },
    build: async (request, services) => {
      let summary: { content: string; throughSeq: number } | null = null;
      for (const e of request.events) if (e.type === 'summary') summary = e.data as { content: string; throughSeq: number };
      const groups = conversationGroups(request.events).filter((g) => !isSystem(g));
      const unsummarised = groups.filter((g) => g.firstSeq > (summary?.throughSeq ?? 0));
      const recent = lastMessages(unsummarised, options.keepRecent);
      const older = unsummarised.slice(0, unsummarised.length - recent.length);
      if (flat(older).length > options.summarizeAfter) {
        const content = await services.summarize(flat(older), summary?.content ?? null);
        const throughSeq = older[older.length - 1]!.lastSeq;
        await services.recordSummary(content, throughSeq);
        summary = { content, throughSeq };
      }
      const after = groups.filter((g) => g.firstSeq > (summary?.throughSeq ?? 0));
      return [...systemMessage(request, summary?.content ?? null), ...flat(after)];
    },
  };
}

/** A rough token count (4 characters a token, plus a few a message), enough to keep under a budget. */
export function estimateTokens(messages: readonly OpenAiMessage[]): number {
  let chars = 0;
  for (const m of messages) chars += (m.content ?? '').length + JSON.stringify(m.tool_calls ?? '').length + 16;
  return Math.ceil(chars / 4);
}

/**
 * Keeps another strategy's context under `maxTokens`: drops the oldest non-system groups
 * until it fits (the newest group always stays). `countTokens` replaces the estimate
 * (e.g. with a real tokenizer).
 */
export function tokenBudget(options: { maxTokens: number; inner?: ContextStrategy; countTokens?: (m: readonly OpenAiMessage[]) => number }): ContextStrategy {
  const inner = options.inner ?? fullHistory();
  const count = options.countTokens ?? estimateTokens;
  return {
    name: `budget(${inner.name})`,
    ...(inner.reach ? { reach: inner.reach } : {}), // it only drops more of what the inner strategy keeps
    build: async (request, services) => {
      const messages = await inner.build(request, services);
      const system = messages.filter((m, i) => i === 0 && m.role === 'system');
      const rest = regroup(messages.slice(system.length));
      while (rest.length > 1 && count([...system, ...rest.flat()]) > options.maxTokens) rest.shift();
      return [...system, ...rest.flat()];
    },
  };
}

/** Messages back into groups: an assistant message with its tool answers stays together. */
function regroup(messages: readonly OpenAiMessage[]): OpenAiMessage[][] {
  const out: OpenAiMessage[][] = [];
  for (const m of messages) {
    if (m.role === 'tool' && out.length > 0) out[out.length - 1]!.push(m);
    else out.push([m]);
  }
  return out;
}
