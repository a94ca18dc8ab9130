import { and, eq } from 'drizzle-orm';
import { sessions } from '../schema';
import type { TenantTx } from '../types';
import type { WrapColumns } from './insert-tenant-key';

/**
 * Replaces a session's wrapped data key, only if it is still wrapped by `fromVersion`
 * (so a rerun after a crash, or a concurrent rewrap, skips it). Returns whether it did.
 */
export async function rewrapSessionKey(
  tx: TenantTx,
  tenant: string,
  session: string,
  fromVersion: number,
  toVersion: number,
  wrapped: Uint8Array,
  signed: WrapColumns,
): Promise<boolean> {
  const rows = await tx
    .update(sessions)
    .set({ wrappedDataKey: wrapped, tenantKeyVersion: toVersion, ...signed })
    .where(and(eq(sessions.tenantId, tenant), eq(sessions.sessionId, session), eq(sessions.tenantKeyVersion, fromVersion)))
    .returning({ id: sessions.sessionId });
  return rows.length === 1;
}
