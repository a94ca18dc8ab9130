import { and, eq } from 'drizzle-orm';
import { tenantKeys } from '../schema';
import type { TenantTx } from '../types';
import type { WrapColumns } from './insert-tenant-key';

/** Replaces a tenant key version's wrapping, only if it is still wrapped by `fromMasterKeyId`. Returns whether it did. */
export async function rewrapTenantKey(
  tx: TenantTx,
  tenant: string,
  version: number,
  fromMasterKeyId: string,
  to: { masterKeyId: string; wrapped: Uint8Array; signed: WrapColumns },
): Promise<boolean> {
  const rows = await tx
    .update(tenantKeys)
    .set({ masterKeyId: to.masterKeyId, wrappedKey: to.wrapped, ...to.signed })
    .where(and(eq(tenantKeys.tenantId, tenant), eq(tenantKeys.version, version), eq(tenantKeys.masterKeyId, fromMasterKeyId)))
    .returning({ v: tenantKeys.version });
  return rows.length === 1;
}
