import { and, desc, eq, inArray } from 'drizzle-orm';
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
  /** The release proof (drizzle/0079): what the database stores a record with. Null for one stored before 0079. */
  proof: Uint8Array | null;
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
    proof: r.proof,
  }));
}

/** When each of a tenant's sessions (or the one named) was archived: each archive record's time, per session. */
export async function archiveTimes(tx: TenantTx, tenant: string, session?: string): Promise<Map<string, Date[]>> {
  const rows = await tx
    .select({ session: archives.sessionId, at: archives.archivedAt })
    .from(archives)
    .where(session === undefined ? eq(archives.tenantId, tenant) : and(eq(archives.tenantId, tenant), eq(archives.sessionId, session)));
  const out = new Map<string, Date[]>();
  for (const r of rows) out.set(r.session, [...(out.get(r.session) ?? []), r.at]);
  return out;
}

/** The digest of the archive record at each of these sessions' heads, where there is one (sessions of one tenant). */
export async function archiveDigestsAt(tx: TenantTx, tenant: string, heads: readonly { session: string; headSeq: number }[]): Promise<Map<string, Uint8Array>> {
  if (heads.length === 0) return new Map();
  const rows = await tx
    .select({ session: archives.sessionId, headSeq: archives.headSeq, digest: archives.digest })
    .from(archives)
    .where(and(eq(archives.tenantId, tenant), inArray(archives.sessionId, heads.map((h) => h.session))));
  const wanted = new Map(heads.map((h) => [h.session, h.headSeq]));
  return new Map(rows.filter((r) => wanted.get(r.session) === r.headSeq).map((r) => [r.session, r.digest]));
}
