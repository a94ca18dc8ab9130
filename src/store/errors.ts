import { StorageError, VaultError } from '../errors';

/** The SQLSTATE of a driver error, looking through drizzle's wrapper. */
export function sqlState(e: unknown): string | undefined {
  for (let cur: any = e, depth = 0; cur && depth < 4; cur = cur.cause, depth++) {
    if (typeof cur.code === 'string') return cur.code;
  }
  return undefined;
}

/** Why a server could not be reached or used, in words an operator can act on (no credentials, no parameters). */
const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused: nothing listens there',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  ECONNRESET: 'connection reset by the server',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  '3D000': 'no such database',
  '28P01': 'password authentication failed',
  '28000': 'the server refused this role or host (pg_hba.conf)',
  '57P01': 'the server is shutting down',
  '57P03': 'the server is starting up or in recovery',
};
const UNAVAILABLE = new Set(Object.keys(REASONS));

/**
 * Translates a driver error into a StorageError, once, at the store's edge.
 * The driver's message is not copied: drizzle's includes the query's parameters.
 * VaultErrors pass through unchanged.
 */
export function storageError(e: unknown, doing: string): VaultError {
  if (e instanceof VaultError) return e;
  if (connectionLost(e)) return new StorageError('STORAGE_UNAVAILABLE', `database unreachable while ${doing} (connection lost)`, { cause: e });
  const code = sqlState(e);
  if (code && (UNAVAILABLE.has(code) || code.startsWith('08'))) {
    return new StorageError('STORAGE_UNAVAILABLE', `database unreachable while ${doing} (${code}${REASONS[code] ? `: ${REASONS[code]}` : ''})`, { cause: e });
  }
  if (code === 'SV001') {
    return new StorageError('STORAGE_REFUSED', `database refused ${doing}: events are append-only`, { cause: e });
  }
  if (code === 'SV003' || code === 'SV004') {
    // Our own guards' words (drizzle/0015_trust_guards.sql): they carry no parameters.
    const rule = String(findMessage(e) ?? '').replace(/^session-vault: /, '');
    return new StorageError('STORAGE_REFUSED', `database refused ${doing}: ${rule || 'a vault rule'}`, { cause: e });
  }
  if (code === '42501') {
    return new StorageError('STORAGE_REFUSED', `database refused ${doing}: insufficient privilege`, { cause: e });
  }
  // A network error without a code (a malformed address, a TLS failure): its message names no secrets, its kind says why.
  const why = code ?? (e instanceof Error && !(e instanceof VaultError) && e.name !== 'Error' ? e.name : undefined);
  return new StorageError('STORAGE_REFUSED', `database error while ${doing}${why ? ` (${why})` : ''}`, { cause: e });
}

/**
 * Whether the database answered a statement with an error, so the statement did nothing:
 * an error response (it carries a severity and a SQLSTATE) that is not about the
 * connection. Otherwise (a reset, a lost connection, a backend terminated or shut down
 * under it) the statement may have run and committed while its answer was lost, and the
 * caller must not treat it as not done.
 */
export function answeredWithError(e: unknown): boolean {
  for (let cur: any = e, depth = 0; cur && depth < 4; cur = cur.cause, depth++) {
    if (typeof cur.severity === 'string' && typeof cur.code === 'string' && /^[0-9A-Z]{5}$/.test(cur.code)) {
      return !cur.code.startsWith('08') && !cur.code.startsWith('57P');
    }
  }
  return false;
}

/**
 * node-postgres's own errors for a connection that ended under a query, or a client whose
 * connection died before (they carry no code: the socket's error went to the client's
 * 'error' event, the statement gets one of these).
 */
const CONNECTION_LOST = new Set(['Connection terminated unexpectedly', 'Client has encountered a connection error and is not queryable', 'Client was closed and is not queryable']);

function connectionLost(e: unknown): boolean {
  for (let cur: any = e, depth = 0; cur && depth < 4; cur = cur.cause, depth++) {
    if (typeof cur.code === 'string') return false;
    if (cur instanceof Error && CONNECTION_LOST.has(cur.message)) return true;
  }
  return false;
}

function findMessage(e: unknown): string | undefined {
  for (let cur: any = e, depth = 0; cur && depth < 4; cur = cur.cause, depth++) {
    if (typeof cur.code === 'string' && typeof cur.message === 'string') return cur.message;
  }
  return undefined;
}
