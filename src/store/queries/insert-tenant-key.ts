import { tenantKeys } from '../schema';
import type { TenantTx } from '../types';

export interface TenantKeyRow {
  tenant: string;
  version: number;
  masterKeyId: string;
  wrappedKey: Uint8Array | null;
  state: 'primary' | 'active' | 'retired' | 'destroyed';
  createdAt: Date;
}

/** Stores a wrapped tenant key version. */
export async function insertTenantKey(tx: TenantTx, k: TenantKeyRow): Promise<void> {
  await tx.insert(tenantKeys).values({
    tenantId: k.tenant,
    version: k.version,
    masterKeyId: k.masterKeyId,
    wrappedKey: k.wrappedKey,
    state: k.state,
    createdAt: k.createdAt,
  });
}
