import { StorageError, VaultError } from '../errors';

/** The SQLSTATE of a driver error, looking through drizzle's wrapper. */
export function sqlState(e: unknown): string | undefined {
  for (let cur: any = e, depth = 0; cur && depth < 4; cur = cur.cause, depth++) {
    if (typeof cur.code === 'string') return cur.code;
  }
  return undefined;
}

const UNAVAILABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', '3D000', '28P01', '28000', '57P01', '57P03']);

/**
 * Translates a driver error into a StorageError, once, at the store's edge.
 * The driver's message is not copied: drizzle's includes the query's parameters.
 * VaultErrors pass through unchanged.
 */
export function storageError(e: unknown, doing: string): VaultError {
  if (e instanceof VaultError) return e;
  const code = sqlState(e);
  if (code && (UNAVAILABLE.has(code) || code.startsWith('08'))) {
    return new StorageError('STORAGE_UNAVAILABLE', `database unreachable while ${doing} (${code})`, { cause: e });
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
  return new StorageError('STORAGE_REFUSED', `database error while ${doing}${code ? ` (${code})` : ''}`, { cause: e });
}

function findMessage(e: unknown): string | undefined {
  for (let cur: any = e, depth = 0; cur && depth < 4; cur = cur.cause, depth++) {
    if (typeof cur.code === 'string' && typeof cur.message === 'string') return cur.message;
  }
  return undefined;
}
