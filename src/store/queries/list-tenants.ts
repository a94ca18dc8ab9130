import { sql } from 'drizzle-orm';
import { storageError } from '../errors';
import { rowsOf, type VaultDb } from '../types';

/** Every tenant id, through the SECURITY DEFINER function that sees past row-level security. */
export async function listTenants(db: VaultDb): Promise<{ tenant: string; createdAt: Date }[]> {
  try {
    const res = await db.execute(sql`SELECT tenant_id, created_at FROM session_vault_tenants()`);
    return rowsOf<{ tenant_id: string; created_at: Date | string }>(res).map((r) => ({
      tenant: r.tenant_id,
      createdAt: new Date(r.created_at),
    }));
  } catch (e) {
    throw storageError(e, 'listing tenants');
  }
}
