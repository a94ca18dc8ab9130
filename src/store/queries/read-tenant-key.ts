import { and, eq } from 'drizzle-orm';
import { tenantKeys } from '../schema';
import type { TenantTx } from '../types';
import type { TenantKeyRow } from './insert-tenant-key';

/** One tenant key version, or the primary one when `version` is 'primary'; null if none. */
export async function readTenantKey(tx: TenantTx, tenant: string, version: number | 'primary'): Promise<TenantKeyRow | null> {
  const where =
    version === 'primary'
      ? and(eq(tenantKeys.tenantId, tenant), eq(tenantKeys.state, 'primary'))
      : and(eq(tenantKeys.tenantId, tenant), eq(tenantKeys.version, version));
  const [row] = await tx.select().from(tenantKeys).where(where).limit(1);
  if (!row) return null;
  return {
    tenant: row.tenantId,
    version: row.version,
    masterKeyId: row.masterKeyId,
    wrappedKey: row.wrappedKey,
    state: row.state as TenantKeyRow['state'],
    createdAt: row.createdAt,
    wrapSeq: row.wrapSeq,
    wrapKeyId: row.wrapKeyId,
    wrapSignature: row.wrapSignature,
    wrapStoredAt: row.wrapStoredAt,
  };
}
