import { tenantKeys } from '../schema';
import type { TenantTx } from '../types';

/**
 * A stored wrap's place in its key's sequence of wraps and its signature by the
 * checkpoint key (audit/key-wrap.ts): signature null where the vault signs nothing, all
 * null for wraps written before drizzle/0049.
 */
export interface WrapColumns {
  wrapSeq: number | null;
  wrapKeyId: string | null;
  wrapSignature: Uint8Array | null;
  /** When the database stored the wrap, by its own clock (drizzle/0055): on rows read, null for a wrap stored before 0055. Never written by the vault. */
  wrapStoredAt?: Date | null;
}

export interface TenantKeyRow extends WrapColumns {
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
    wrapSeq: k.wrapSeq,
    wrapKeyId: k.wrapKeyId,
    wrapSignature: k.wrapSignature,
  });
}
