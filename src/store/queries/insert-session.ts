import { sessions } from '../schema';
import type { TenantTx } from '../types';
import type { WrapColumns } from './insert-tenant-key';

/** Creates a session with an empty chain; returns false if another writer created it first. */
export async function insertSession(
  tx: TenantTx,
  s: WrapColumns & {
    tenant: string;
    session: string;
    agent: string | null;
    createdAt: Date;
    dataKeyVersion: number;
    tenantKeyVersion: number;
    wrappedDataKey: Uint8Array;
    retainFloor: string;
  },
): Promise<boolean> {
  const rows = await tx
    .insert(sessions)
    .values({
      tenantId: s.tenant,
      sessionId: s.session,
      agent: s.agent,
      createdAt: s.createdAt,
      dataKeyVersion: s.dataKeyVersion,
      tenantKeyVersion: s.tenantKeyVersion,
      wrappedDataKey: s.wrappedDataKey,
      retainFloor: s.retainFloor,
      wrapSeq: s.wrapSeq,
      wrapKeyId: s.wrapKeyId,
      wrapSignature: s.wrapSignature,
    })
    .onConflictDoNothing()
    .returning({ id: sessions.sessionId });
  return rows.length === 1;
}
