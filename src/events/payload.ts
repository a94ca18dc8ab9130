import type { ClearFields, EventData, EventInput, StoredEventType } from '../domain';

/**
 * Which parts of an event stay in clear and which are sealed.
 *
 * Clear (queryable without keys): tool name, token counts, cost, duration (a tool's run,
 * a model call's latency) — plus the
 * envelope (type, time, correlation id, idempotency key) stored in their own columns.
 * Everything else — content, roles, tool inputs and outputs, patches, tasks — is sealed.
 */
export interface SplitEvent {
  clear: ClearFields;
  /** The sealed part, serialised as JSON. */
  secret: EventData;
}

export function splitEvent(event: EventInput): SplitEvent {
  const clear: ClearFields = { tool: null, promptTokens: null, completionTokens: null, costUsd: null, durationMs: null };
  const { type: _t, correlationId: _c, idempotencyKey: _i, ...rest } = event;
  const secret: Record<string, unknown> = { ...rest };
  // A model call's latency shares the clear duration column with a tool's run time.
  const clearLatency = (ms: number | undefined) => {
    if (ms === undefined) return;
    clear.durationMs = ms;
    delete secret.latencyMs;
  };
  // Token counts and cost (of a message, or of a run's `usage` record) go to their columns.
  const clearUsage = (usage: { promptTokens: number; completionTokens: number } | undefined, costUsd: number | undefined) => {
    if (usage) {
      clear.promptTokens = usage.promptTokens;
      clear.completionTokens = usage.completionTokens;
      delete secret.usage;
    }
    if (costUsd !== undefined) {
      clear.costUsd = costUsd;
      delete secret.costUsd;
    }
  };
  switch (event.type) {
    case 'message':
      clearUsage(event.usage, event.costUsd);
      clearLatency(event.latencyMs);
      break;
    case 'model_error':
      clearLatency(event.latencyMs);
      break;
    case 'usage':
      clearUsage(event.usage, event.costUsd);
      break;
    case 'tool_call':
      clear.tool = event.tool;
      delete secret.tool;
      break;
    case 'tool_result':
      if (event.durationMs !== undefined) {
        clear.durationMs = event.durationMs;
        delete secret.durationMs;
      }
      break;
    default:
      break;
  }
  return { clear, secret };
}

/** Rebuilds an event's data from its clear columns and its opened secret part. */
export function joinEvent(type: StoredEventType, clear: ClearFields, secret: EventData): EventData {
  const data: EventData = { ...secret };
  switch (type) {
    case 'message':
      if (clear.promptTokens !== null || clear.completionTokens !== null) {
        data.usage = { promptTokens: clear.promptTokens ?? 0, completionTokens: clear.completionTokens ?? 0 };
      }
      if (clear.costUsd !== null) data.costUsd = clear.costUsd;
      if (clear.durationMs !== null) data.latencyMs = clear.durationMs;
      break;
    case 'model_error':
      if (clear.durationMs !== null) data.latencyMs = clear.durationMs;
      break;
    case 'usage':
      data.usage = { promptTokens: clear.promptTokens ?? 0, completionTokens: clear.completionTokens ?? 0 };
      if (clear.costUsd !== null) data.costUsd = clear.costUsd;
      break;
    case 'tool_call':
      if (clear.tool !== null) data.tool = clear.tool;
      break;
    case 'tool_result':
      if (clear.durationMs !== null) data.durationMs = clear.durationMs;
      break;
    default:
      break;
  }
  return data;
}
