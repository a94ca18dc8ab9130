import { and, eq } from 'drizzle-orm';
import { sessions, tenantKeys } from '../schema';
import type { TenantTx } from '../types';
import type { WrapColumns } from './insert-tenant-key';

/**
 * Stores the signature of a session's wrap as it stands, only if its bytes are still
 * `wrapped` (a rewrap meanwhile wrote a signed one). Returns whether it did.
 */
export async function signSessionWrap(tx: TenantTx, tenant: string, session: string, wrapped: Uint8Array, signed: WrapColumns): Promise<boolean> {
  const rows = await tx
    .update(sessions)
    .set(signed)
    .where(and(eq(sessions.tenantId, tenant), eq(sessions.sessionId, session), eq(sessions.wrappedDataKey, wrapped)))
    .returning({ id: sessions.sessionId });
  return rows.length === 1;
}

/** The same for a tenant key version's wrap. */
export async function signTenantKeyWrap(tx: TenantTx, tenant: string, version: number, wrapped: Uint8Array, signed: WrapColumns): Promise<boolean> {
  const rows = await tx
    .update(tenantKeys)
    .set(signed)
    .where(and(eq(tenantKeys.tenantId, tenant), eq(tenantKeys.version, version), eq(tenantKeys.wrappedKey, wrapped)))
    .returning({ v: tenantKeys.version });
  return rows.length === 1;
}
