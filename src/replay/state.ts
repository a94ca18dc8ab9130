import type { MessageRole, VaultEvent } from '../domain';
import { applyMergePatch, type Json } from './merge-patch';
import { copyJson } from './copy';

/** A conversation message as replay shows it. */
export interface ReplayedMessage {
  seq: number;
  role: MessageRole;
  content: string;
  name?: string;
  toolCallId?: string;
  /** The model that wrote an assistant message, when recorded. */
  model?: string;
  at: string;
  correlationId: string;
}

/** A model call that failed (a `model_error` event). */
export interface ReplayedModelError {
  seq: number;
  model: string;
  message: string;
  status: number | null;
  correlationId: string;
}

/** A tool call joined with its result (output and friends stay null until the result arrives). */
export interface ReplayedToolCall {
  callId: string;
  tool: string;
  input: Json;
  output: Json;
  summary: string | null;
  durationMs: number | null;
  isError: boolean | null;
  callSeq: number;
  resultSeq: number | null;
}

/** The agent state rebuilt from a session's events (the `replay --json` document). */
export interface AgentState {
  tenant: string;
  session: string;
  agent: string | null;
  lastSeq: number;
  head: string | null;
  lastAt: string | null;
  messages: ReplayedMessage[];
  toolCalls: ReplayedToolCall[];
  toolState: { [k: string]: Json };
  worldState: { [k: string]: Json };
  currentTask: string | null;
  summary: { content: string; throughSeq: number } | null;
  usage: { promptTokens: number; completionTokens: number; costUsd: number };
  /** Failed model calls, in order. */
  modelErrors: ReplayedModelError[];
  /** OpenAI Agents SDK session items still live (not retracted), oldest first. */
  agentItems: { seq: number; item: Json }[];
  /** Present in a windowed state (`state({ window })`): its size, and how many earlier entries of each list it left out. */
  window?: StateWindow;
}

/** What a windowed state shows besides the state: the window and how many entries of each list it left out. */
export interface StateWindow {
  size: number;
  omitted: { messages: number; toolCalls: number; agentItems: number; modelErrors: number };
}

/** The state of a session before its first event. */
export function initialState(meta: { tenant: string; session: string; agent: string | null }): AgentState {
  return {
    ...meta,
    lastSeq: 0,
    head: null,
    lastAt: null,
    messages: [],
    toolCalls: [],
    toolState: {},
    worldState: {},
    currentTask: null,
    summary: null,
    usage: { promptTokens: 0, completionTokens: 0, costUsd: 0 },
    modelErrors: [],
    agentItems: [],
  };
}

/**
 * Folds one event into the state and returns it. Deterministic and free of I/O; for
 * speed it takes ownership of `state` and updates it in place (a fold threads one
 * state through, so nothing else holds it) — copying the message list per event would
 * make replay quadratic. An unknown tool_result callId is kept as a call with tool
 * "(unknown)" so nothing recorded is silently dropped.
 */
export function evolve(state: AgentState, event: VaultEvent): AgentState {
  state.lastSeq = event.seq;
  state.head = event.hash;
  state.lastAt = isoText(event.at);
  const d = event.data as Record<string, any>;
  switch (event.type) {
    case 'message': {
      const m: ReplayedMessage = {
        seq: event.seq,
        role: d.role,
        content: d.content,
        at: state.lastAt,
        correlationId: event.correlationId,
      };
      if (d.name !== undefined) m.name = d.name;
      if (d.toolCallId !== undefined) m.toolCallId = d.toolCallId;
      if (d.model !== undefined) m.model = d.model;
      state.messages.push(m);
      state.usage.promptTokens += d.usage?.promptTokens ?? 0;
      state.usage.completionTokens += d.usage?.completionTokens ?? 0;
      state.usage.costUsd = roundCost(state.usage.costUsd + (d.costUsd ?? 0));
      return state;
    }
    case 'tool_call':
      state.toolCalls.push({
        callId: d.callId,
        tool: d.tool,
        input: d.input,
        output: null,
        summary: null,
        durationMs: null,
        isError: null,
        callSeq: event.seq,
        resultSeq: null,
      });
      return state;
    case 'tool_result': {
      const result = {
        output: d.output as Json,
        summary: (d.summary as string | undefined) ?? null,
        durationMs: (d.durationMs as number | undefined) ?? null,
        isError: (d.isError as boolean | undefined) ?? false,
        resultSeq: event.seq,
      };
      const call = findOpenCall(state.toolCalls, d.callId);
      if (call) Object.assign(call, result);
      else state.toolCalls.push({ callId: d.callId, tool: '(unknown)', input: null, callSeq: event.seq, ...result });
      return state;
    }
    case 'state_patch':
      if (d.scope === 'tool') state.toolState = applyMergePatch(state.toolState, d.patch) as AgentState['toolState'];
      else state.worldState = applyMergePatch(state.worldState, d.patch) as AgentState['worldState'];
      return state;
    case 'task':
      state.currentTask = d.task;
      return state;
    case 'summary':
      state.summary = { content: d.content, throughSeq: d.throughSeq };
      return state;
    case 'key_shredded':
      return state; // the chain's closing record; nothing before it can be read any more
    case 'instructions':
      return state; // what the model was told; read from the events (`events`), not part of the state
    case 'graph_checkpoint':
    case 'graph_writes':
      return state; // LangGraph's own state, read back by the checkpointer (src/integrations/langgraph/)
    case 'usage':
      state.usage.promptTokens += d.usage?.promptTokens ?? 0;
      state.usage.completionTokens += d.usage?.completionTokens ?? 0;
      state.usage.costUsd = roundCost(state.usage.costUsd + (d.costUsd ?? 0));
      return state;
    case 'model_error':
      state.modelErrors.push({ seq: event.seq, model: d.model, message: d.message, status: d.status ?? null, correlationId: event.correlationId });
      return state;
    case 'agent_item':
      return addAgentItem(state, event.seq, d.item, event.correlationId);
    case 'retraction': {
      // The SDK's popItem / clearSession: the items and what replay derived from them go.
      const gone = (seq: number) => seq >= d.fromSeq && seq <= d.toSeq;
      state.agentItems = state.agentItems.filter((i) => !gone(i.seq));
      state.messages = state.messages.filter((m) => !gone(m.seq));
      state.toolCalls = state.toolCalls.filter((c) => !gone(c.callSeq));
      for (const c of state.toolCalls) {
        if (c.resultSeq !== null && gone(c.resultSeq)) Object.assign(c, { output: null, summary: null, durationMs: null, isError: null, resultSeq: null });
      }
      return state;
    }
  }
}

/**
 * A time as ISO text. The events of one append share one time, so the text of the last
 * time asked for is kept and given again for the same instant (a memo: the same text
 * either way; about 4% of a replay's time went to writing it anew for every event).
 */
function isoText(at: Date): string {
  const ms = at.getTime();
  if (ms !== lastIso.ms || Number.isNaN(ms)) lastIso = { ms, text: at.toISOString() };
  return lastIso.text;
}

let lastIso = { ms: Number.NaN, text: '' };

/**
 * An Agents SDK item: kept as is, and also read into the conversation where it is one —
 * a message (its text parts joined), a function call, a function call's result.
 */
function addAgentItem(state: AgentState, seq: number, item: Record<string, any>, correlationId: string): AgentState {
  state.agentItems.push({ seq, item });
  const type = item.type ?? (item.role ? 'message' : undefined);
  if (type === 'message' && typeof item.role === 'string') {
    const content = typeof item.content === 'string' ? item.content : Array.isArray(item.content) ? item.content.map((p: any) => (typeof p?.text === 'string' ? p.text : '')).join('') : '';
    state.messages.push({ seq, role: item.role as MessageRole, content, at: state.lastAt!, correlationId });
  } else if (type === 'function_call') {
    let input: Json = item.arguments ?? null;
    try {
      if (typeof item.arguments === 'string') input = JSON.parse(item.arguments);
    } catch {
      input = item.arguments;
    }
    state.toolCalls.push({ callId: item.callId ?? item.call_id, tool: item.name, input, output: null, summary: null, durationMs: null, isError: null, callSeq: seq, resultSeq: null });
  } else if (type === 'function_call_result') {
    const call = findOpenCall(state.toolCalls, item.callId ?? item.call_id);
    const output = (item.output?.text ?? item.output ?? null) as Json;
    if (call) Object.assign(call, { output, isError: false, resultSeq: seq });
  }
  return state;
}

/** The latest call with this id that has no result yet (ids can be reused across turns). */
function findOpenCall(calls: readonly ReplayedToolCall[], callId: string): ReplayedToolCall | undefined {
  for (let i = calls.length - 1; i >= 0; i--) {
    const c = calls[i]!;
    if (c.callId === callId && c.resultSeq === null) return c;
  }
  return undefined;
}

/** Sums of float costs drift (0.1 + 0.2); round to a nano-dollar so totals read as entered. */
function roundCost(x: number): number {
  return Math.round(x * 1e9) / 1e9;
}

/**
 * A deep copy of a state that shares no object with it (strings, being immutable, are
 * shared): what a reader is given of a state the vault keeps folding in place. Faster
 * than structuredClone for the many small flat entries a state is made of.
 */
export function copyState(state: AgentState): AgentState {
  const out: AgentState = {
    ...state,
    messages: state.messages.map((m) => ({ ...m })),
    toolCalls: state.toolCalls.map((c) => ({ ...c, input: copyJson(c.input), output: copyJson(c.output) })),
    toolState: copyJson(state.toolState) as AgentState['toolState'],
    worldState: copyJson(state.worldState) as AgentState['worldState'],
    summary: state.summary && { ...state.summary },
    usage: { ...state.usage },
    modelErrors: state.modelErrors.map((e) => ({ ...e })),
    agentItems: state.agentItems.map((i) => ({ seq: i.seq, item: copyJson(i.item) })),
  };
  if (state.window) out.window = { size: state.window.size, omitted: { ...state.window.omitted } };
  return out;
}

