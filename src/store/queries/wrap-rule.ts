import { and, eq } from 'drizzle-orm';
import { tenants } from '../schema';
import type { TenantTx } from '../types';

/**
 * Whether every key wrap of the tenant is signed, for good (drizzle/0051): the vault then
 * opens no key whose wrap no trusted key signed. False for a tenant not there.
 */
export async function readWrapsSigned(tx: TenantTx, tenant: string): Promise<boolean> {
  const [row] = await tx.select({ on: tenants.wrapsSigned }).from(tenants).where(eq(tenants.tenantId, tenant)).limit(1);
  return row?.on === true;
}

/**
 * Makes every key wrap of the tenant signed from now on. The database refuses it (SV003,
 * STORAGE_REFUSED) while the tenant still holds an unsigned wrap, and never clears it.
 * Returns whether this call set it (false where it was set already).
 */
export async function setWrapsSigned(tx: TenantTx, tenant: string): Promise<boolean> {
  const rows = await tx
    .update(tenants)
    .set({ wrapsSigned: true })
    .where(and(eq(tenants.tenantId, tenant), eq(tenants.wrapsSigned, false)))
    .returning({ id: tenants.tenantId });
  return rows.length === 1;
}
