import { sql } from 'drizzle-orm';
import { storageError } from './errors';
import { transaction } from './transaction';
import type { TenantTx, VaultDb } from './types';

/**
 * Runs `fn` in a transaction scoped to one tenant: `set_config('vault.tenant', t, true)`
 * (SET LOCAL), which row-level security reads. Every query of tenant data runs inside
 * one; outside one, the tables show no rows. Driver errors are translated here, once.
 *
 * `asRole`: the transaction acts as that role of the vault's family (SET LOCAL ROLE, a
 * name from the layout, so a checked identifier) and the connection goes back to its own
 * at commit or rollback. The server allows it only to a login that may act as the role.
 */
export async function withTenant<T>(db: VaultDb, tenant: string, doing: string, fn: (tx: TenantTx) => Promise<T>, asRole?: string | null): Promise<T> {
  try {
    return await transaction(db, async (tx) => {
      if (asRole) await tx.execute(sql.raw(`SET LOCAL ROLE ${asRole}`));
      await tx.execute(sql`SELECT set_config('vault.tenant', ${tenant}, true)`);
      return fn(tx);
    });
  } catch (e) {
    throw storageError(e, doing);
  }
}
