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
