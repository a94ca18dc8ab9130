import { StorageError, VaultError } from '../errors';

/** The error and its causes (drizzle wraps the driver's), at most four deep. */
function causes(e: unknown): any[] {
  const chain: any[] = [];
  for (let cur: any = e; cur && chain.length < 4; cur = cur.cause) chain.push(cur);
  return chain;
}

/** The first error in the chain that carries a string code: the driver's (a SQLSTATE, or a socket's errno). */
function coded(e: unknown): { code: string; message?: unknown; severity?: unknown; constraint?: unknown } | undefined {
  return causes(e).find((c) => typeof c.code === 'string');
}

/** The constraint a driver error names (a unique violation's index, say), looking through drizzle's wrapper. */
export function constraintOf(e: unknown): string | undefined {
  const c = coded(e)?.constraint;
  return typeof c === 'string' ? c : undefined;
}

/** The SQLSTATE of a driver error, looking through drizzle's wrapper. */
export function sqlState(e: unknown): string | undefined {
  return coded(e)?.code;
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
  '57014': 'the statement was cancelled: it ran past the statement timeout, a lock wait included, or an operator cancelled it',
  '25P03': 'the transaction sat idle past the timeout, and the server ended it',
};
const UNAVAILABLE = new Set(Object.keys(REASONS));

/**
 * Node's TLS verdicts on a server certificate (`sslmode=verify-full`): the vault will not
 * talk to that server, which may be a man in the middle. Not transient: refused.
 */
const TLS_REFUSALS = new Map([
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'its certificate is self-signed'],
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'its certificate is not signed by a trusted CA'],
  ['ERR_TLS_CERT_ALTNAME_INVALID', 'its certificate is for another host name'],
]);

/**
 * Translates a driver error into a StorageError, once, at the store's edge.
 * The driver's message is not copied: drizzle's includes the query's parameters.
 * VaultErrors pass through unchanged.
 */
export function storageError(e: unknown, doing: string): VaultError {
  if (e instanceof VaultError) return e;
  const driver = driverMessages(e);
  if (driver.includes('The server does not support SSL connections')) {
    return new StorageError('STORAGE_REFUSED', `database refused while ${doing}: the server does not speak TLS, which the URL asks for (sslmode)`, { cause: e });
  }
  const lost = driver.map((m) => CONNECTION_LOST.get(m)).find((why) => why !== undefined);
  if (lost) return new StorageError('STORAGE_UNAVAILABLE', `database unreachable while ${doing} (${lost})`, { cause: e });
  const code = sqlState(e);
  if (code && (UNAVAILABLE.has(code) || code.startsWith('08'))) {
    return new StorageError('STORAGE_UNAVAILABLE', `database unreachable while ${doing} (${code}${REASONS[code] ? `: ${REASONS[code]}` : ''})`, { cause: e });
  }
  if (code && TLS_REFUSALS.has(code)) {
    return new StorageError('STORAGE_REFUSED', `database refused while ${doing}: the server could not prove it is the one the URL names (${code}: ${TLS_REFUSALS.get(code)}); check sslrootcert and the host name`, { cause: e });
  }
  if (code === 'SV001') {
    return new StorageError('STORAGE_REFUSED', `database refused ${doing}: events are append-only`, { cause: e });
  }
  if (code === 'SV003' || code === 'SV004' || code === 'SV005') {
    // Our own guards' words (drizzle/0015_trust_guards.sql): they carry no query parameters.
    const rule = String(findMessage(e) ?? '').replace(/^session-vault: /, '');
    // SV005: a purge stamped ahead of the database's clock (0045), a host clock gone wrong.
    return new StorageError(code === 'SV005' ? 'CLOCK_AHEAD' : 'STORAGE_REFUSED', `database refused ${doing}: ${rule || 'a vault rule'}`, { cause: e });
  }
  const check = code === '23514' ? /violates check constraint "([a-z0-9_]+)"/.exec(String(findMessage(e) ?? '')) : null;
  if (check) {
    // A rule on the row's own values (a time outside 1970 to 9999, drizzle/0066, a state the table does not know): its name, never the row.
    return new StorageError('STORAGE_REFUSED', `database refused ${doing}: the row breaks the rule ${check[1]} (23514)`, { cause: e });
  }
  if (code === '42501' && /row-level security/.test(String(findMessage(e) ?? ''))) {
    // The same SQLSTATE, from a row outside the transaction's tenant (row-level security's WITH CHECK).
    return new StorageError('STORAGE_REFUSED', `database refused ${doing}: the row is outside the tenant's scope (row-level security)`, { cause: e });
  }
  const setRole = code === '42501' ? /permission denied to set role "([a-z0-9_]+)"/.exec(String(findMessage(e) ?? '')) : null;
  if (setRole) {
    // A transaction that acts as another role of the family (withTenant's asRole), from a login that may not.
    return new StorageError('PERMISSION_DENIED', `database refused ${doing}: this login may not act as ${setRole[1]} (roles: docs/operations.md)`, { cause: e });
  }
  if (code === '42501') {
    // The role acted as may not (layout.ts): an agent's application role administering, an auditor writing.
    return new StorageError('PERMISSION_DENIED', `database refused ${doing}: insufficient privilege for the role this vault acts as (roles: docs/operations.md)`, { cause: e });
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
  const c = coded(e);
  if (!c || typeof c.severity !== 'string' || !/^[0-9A-Z]{5}$/.test(c.code)) return false;
  return !c.code.startsWith('08') && !c.code.startsWith('57P');
}

/**
 * node-postgres's own errors, which carry no code, for a connection that ended under a
 * query, a client whose connection died before (the socket's error went to the client's
 * 'error' event, the statement gets one of these), or a connection that did not open in
 * time (connectionTimeoutMillis), with what each means.
 */
const CONNECTION_LOST = new Map([
  ['Connection terminated unexpectedly', 'connection lost'],
  ['Client has encountered a connection error and is not queryable', 'connection lost'],
  ['timeout expired', 'connection timed out: the server did not answer'],
  ['timeout exceeded when trying to connect', 'connection timed out: no connection free or opened in time'],
]);

/** The messages of the code-less errors in the chain (node-postgres's own, drizzle's wrapper), up to the first with a code. */
function driverMessages(e: unknown): string[] {
  const chain = causes(e);
  const first = chain.findIndex((c) => typeof c.code === 'string');
  return (first < 0 ? chain : chain.slice(0, first)).filter((c) => c instanceof Error).map((c: Error) => c.message);
}

function findMessage(e: unknown): string | undefined {
  const message = coded(e)?.message;
  return typeof message === 'string' ? message : undefined;
}
