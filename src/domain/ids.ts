import { InputError } from '../errors';

/** A tenant id: `^[a-z0-9][a-z0-9._-]{0,62}$` (CLI contract). */
export type TenantId = string & { readonly __brand: 'TenantId' };
/** A session id: `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$` (a UUID fits). */
export type SessionId = string & { readonly __brand: 'SessionId' };

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const SESSION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** Correlation ids and idempotency keys: printable ASCII, 1..128 characters. */
export const TOKEN_PATTERN = /^[\x20-\x7e]{1,128}$/;

/** Validates a tenant id; throws InputError(INVALID_ID) naming the rule, not echoing long input. */
export function tenantId(value: string): TenantId {
  if (typeof value !== 'string' || !TENANT_ID_PATTERN.test(value)) {
    throw new InputError('INVALID_ID', `invalid tenant id ${describe(value)}: expected ${TENANT_ID_PATTERN.source}`);
  }
  return value as TenantId;
}

/** Validates a session id; throws InputError(INVALID_ID). */
export function sessionId(value: string): SessionId {
  if (typeof value !== 'string' || !SESSION_ID_PATTERN.test(value)) {
    throw new InputError('INVALID_ID', `invalid session id ${describe(value)}: expected ${SESSION_ID_PATTERN.source}`);
  }
  return value as SessionId;
}

/** Validates a correlation id; throws InputError(INVALID_ID). */
export function correlationId(value: string): string {
  if (typeof value !== 'string' || !TOKEN_PATTERN.test(value)) {
    throw new InputError('INVALID_ID', 'invalid correlation id: expected 1..128 printable ASCII characters');
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value !== 'string') return `(${typeof value})`;
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return JSON.stringify(shown);
}

/** A batch's idempotency key (the service's `Idempotency-Key`, the CLI's `--idempotency-key`): printable ASCII, 1..100 characters, so `<key>:<i>` fits an event's key. */
export const BATCH_KEY_PATTERN = /^[\x20-\x7e]{1,100}$/;

/**
 * The batch with event i keyed `<key>:<i>` unless it carries its own key: sent again with
 * the same key, the batch is answered from what was stored instead of appended twice.
 * Throws InputError(INVALID_INPUT) for a key outside BATCH_KEY_PATTERN. Values that are
 * not objects pass unchanged, for validation to refuse with their place.
 */
export function keyedBatch(values: readonly unknown[], key: string): unknown[] {
  if (typeof key !== 'string' || !BATCH_KEY_PATTERN.test(key)) {
    throw new InputError('INVALID_INPUT', 'an idempotency key is 1..100 printable ASCII characters');
  }
  return values.map((v, i) => (typeof v === 'object' && v !== null && !Array.isArray(v) && (v as { idempotencyKey?: unknown }).idempotencyKey === undefined ? { ...v, idempotencyKey: `${key}:${i}` } : v));
}
