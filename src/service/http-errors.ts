import { isVaultError, type ErrorCode } from '../errors';

/** The JSON body of every error the service returns: the CLI's `error[CODE]: message`, as JSON. */
export interface ErrorBody {
  error: { code: string; message: string; correlationId: string };
}

/** Codes the service adds to the vault's own, for what only HTTP has. */
export type ServiceErrorCode = 'NOT_FOUND' | 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'RATE_LIMITED' | 'SHUTTING_DOWN' | 'HANDLER_TIMEOUT' | 'INTERNAL';

const STATUS: Partial<Record<ErrorCode | ServiceErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  ACTOR_REQUIRED: 403,
  PERMISSION_DENIED: 403,
  UNKNOWN_TENANT: 404,
  UNKNOWN_SESSION: 404,
  UNKNOWN_TOKEN: 404,
  NOT_FOUND: 404,
  TENANT_EXISTS: 409,
  IDEMPOTENCY_CONFLICT: 409,
  LEGAL_HOLD: 409,
  SESSION_STATE: 409,
  KEY_STATE: 409,
  RETENTION_NOT_DUE: 409,
  RETENTION_LOCKED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  KEY_DESTROYED: 410,
  CHAIN_BROKEN: 500,
  WRAP_UNSIGNED: 500,
  ARCHIVE_MISSING: 500,
  ARCHIVE_CORRUPT: 500,
  DECRYPTION_FAILED: 500,
  INTERNAL: 500,
  KEY_UNAVAILABLE: 503,
  STORAGE_UNAVAILABLE: 503,
  STORE_LOCKED: 503,
  APPEND_CONTENDED: 503,
  ACCESS_TRAIL_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  HANDLER_TIMEOUT: 503,
};

/**
 * The HTTP status of a code: the table above, else by the code's category (input 400,
 * key 500, integrity 500, storage 503).
 */
export function statusOf(code: string, category?: string): number {
  const known = STATUS[code as ErrorCode];
  if (known !== undefined) return known;
  if (category === 'input') return 400;
  if (category === 'storage') return 503;
  return 500;
}

/**
 * What an error becomes on the wire. A VaultError keeps its code and message (messages
 * carry ids and field names, never content or secrets); anything else is INTERNAL with
 * a fixed message, since an unknown error's text may echo what it was given.
 */
export function errorReply(e: unknown, correlationId: string): { status: number; body: ErrorBody } {
  if (isVaultError(e)) return { status: statusOf(e.code, e.category), body: { error: { code: e.code, message: e.message, correlationId } } };
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error (the service log has the correlation id)', correlationId } } };
}

/** An error of the service's own (routing, limits). */
export function serviceError(code: ServiceErrorCode, message: string, correlationId: string): { status: number; body: ErrorBody } {
  return { status: statusOf(code), body: { error: { code, message, correlationId } } };
}

/** A refusal of the service's own (a limit), thrown from hooks and turned into its JSON by the error handler. */
export class ServiceRefusal extends Error {
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    readonly statusCode = statusOf(code),
  ) {
    super(message);
    this.name = 'ServiceRefusal';
  }
}

/**
 * An error as the service logs it: its type and code, never its message, since an unknown
 * error's text may echo what it was given. In the shape of an Error (`name`), which is what
 * the logger's `err` serializer reads the type from.
 */
export function loggedError(e: unknown): { name: string; code: unknown } {
  return e instanceof Error ? { name: e.name, code: (e as { code?: unknown }).code } : { name: typeof e, code: undefined };
}
