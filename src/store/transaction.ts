import type { TenantTx, VaultDb } from './types';

/**
 * `db.transaction(fn)`, but failing with what failed. drizzle answers a failed rollback
 * with the rollback's error: when the connection dies inside a transaction, that is
 * "Client … is not queryable", and the statement's own error (a reset, a terminated
 * backend: what an operator can act on) would be lost.
 */
export async function transaction<T>(db: VaultDb, fn: (tx: TenantTx) => Promise<T>): Promise<T> {
  let failed: { error: unknown } | undefined;
  try {
    return await db.transaction(async (tx) => {
      try {
        return await fn(tx);
      } catch (e) {
        failed = { error: e };
        throw e;
      }
    });
  } catch (e) {
    throw failed ? failed.error : e;
  }
}
