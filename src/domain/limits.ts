/**
 * Size limits on input. They bound memory per append and keep one event small enough
 * to seal, hash and replay in one piece. Exceeding any of them is INVALID_EVENT.
 */
export const LIMITS = {
  /** Largest serialised event (the JSON of all its fields), in bytes. */
  maxEventBytes: 1024 * 1024,
  /** Most events in one append call (one atomic batch). */
  maxBatchEvents: 10_000,
  /** Largest batch, summing maxEventBytes-style sizes, in bytes. */
  maxBatchBytes: 32 * 1024 * 1024,
  /** Longest name, call id, tool name or role-ish short field, in characters. */
  maxShortField: 256,
  /** Deepest nesting of objects and arrays in an event. */
  maxDepth: 64,
  /** Longest agent name. */
  maxAgentName: 128,
} as const;
