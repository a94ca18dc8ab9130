import { sql } from 'drizzle-orm';
import { storageError } from './errors';
import { transaction } from './transaction';
import type { TenantTx, VaultDb } from './types';

/**
 * Runs `fn` in a transaction scoped to one tenant: `set_config('vault.tenant', t, true)`
 * (SET LOCAL), which row-level security reads. Every query of tenant data runs inside
 * one; outside one, the tables show no rows. Driver errors are translated here, once.
 */
export async function withTenant<T>(db: VaultDb, tenant: string, doing: string, fn: (tx: TenantTx) => Promise<T>): Promise<T> {
  try {
    return await transaction(db, async (tx) => {
      await tx.execute(sql`SELECT set_config('vault.tenant', ${tenant}, true)`);
      return fn(tx);
    });
  } catch (e) {
    throw storageError(e, doing);
  }
}
