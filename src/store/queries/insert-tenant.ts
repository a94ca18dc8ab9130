import { tenants } from '../schema';
import type { TenantTx } from '../types';

/** Inserts a tenant; returns false if it already existed. */
export async function insertTenant(tx: TenantTx, t: { tenant: string; createdAt: Date }): Promise<boolean> {
  const rows = await tx
    .insert(tenants)
    .values({ tenantId: t.tenant, createdAt: t.createdAt })
    .onConflictDoNothing()
    .returning({ id: tenants.tenantId });
  return rows.length === 1;
}
