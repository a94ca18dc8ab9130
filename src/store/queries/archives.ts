import { and, desc, eq } from 'drizzle-orm';
import { archives } from '../schema';
import type { TenantTx } from '../types';

/** A verified archive object of a session at a head (schema.ts, `archives`). */
export interface ArchiveRow {
  tenant: string;
  session: string;
  headSeq: number;
  headHash: Uint8Array;
  objectName: string;
  /** The archive store's location when it was written (no credentials). */
  store: string;
  digest: Uint8Array;
  bytes: number;
  archivedAt: Date;
  archivedBy: string;
  verifiedAt: Date;
}

/** Records a verified archive object; false if one is recorded for this head already. */
export async function insertArchive(tx: TenantTx, a: ArchiveRow): Promise<boolean> {
  const rows = await tx
    .insert(archives)
    .values({
      tenantId: a.tenant,
      sessionId: a.session,
      headSeq: a.headSeq,
      headHash: a.headHash,
      objectName: a.objectName,
      store: a.store,
      digest: a.digest,
      bytes: a.bytes,
      archivedAt: a.archivedAt,
      archivedBy: a.archivedBy,
      verifiedAt: a.verifiedAt,
    })
    .onConflictDoNothing()
    .returning({ seq: archives.headSeq });
  return rows.length === 1;
}

/** Every archive record of a session, newest head first. */
export async function listArchives(tx: TenantTx, tenant: string, session: string): Promise<ArchiveRow[]> {
  const rows = await tx
    .select()
    .from(archives)
    .where(and(eq(archives.tenantId, tenant), eq(archives.sessionId, session)))
    .orderBy(desc(archives.headSeq));
  return rows.map((r) => ({
    tenant: r.tenantId,
    session: r.sessionId,
    headSeq: r.headSeq,
    headHash: r.headHash,
    objectName: r.objectName,
    store: r.store,
    digest: r.digest,
    bytes: r.bytes,
    archivedAt: r.archivedAt,
    archivedBy: r.archivedBy,
    verifiedAt: r.verifiedAt,
  }));
}
