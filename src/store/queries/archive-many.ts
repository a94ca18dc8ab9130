import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { StoredEvent } from '../../domain';
import { archives, checkpoints, events, sessions } from '../schema';
import { rowsOf, type TenantTx } from '../types';
import type { ArchiveRow } from './archives';
import type { CheckpointRow } from './insert-checkpoint';
import { toCheckpointRow } from './read-checkpoints';
import { toStoredEvent } from './read-events';
import { toSessionRow, type SessionRow } from './read-session';

/**
 * The reads and writes of archiving several small sessions at once (a retention run's
 * group): one statement each for the group instead of one per session.
 */

/** The rows of these sessions (those that exist, in no particular order). */
export async function readSessions(tx: TenantTx, tenant: string, ids: readonly string[]): Promise<SessionRow[]> {
  if (ids.length === 0) return [];
  const rows = await tx.select().from(sessions).where(and(eq(sessions.tenantId, tenant), inArray(sessions.sessionId, [...ids])));
  return rows.map(toSessionRow);
}

/** Every event of these sessions, by session then seq (the caller keeps the group small). */
export async function readEventsOf(tx: TenantTx, tenant: string, ids: readonly string[]): Promise<StoredEvent[]> {
  if (ids.length === 0) return [];
  const rows = await tx
    .select()
    .from(events)
    .where(and(eq(events.tenantId, tenant), inArray(events.sessionId, [...ids])))
    .orderBy(asc(events.sessionId), asc(events.seq));
  return rows.map(toStoredEvent);
}

/** Every checkpoint of these sessions, by session then seq and key. */
export async function readCheckpointsOf(tx: TenantTx, tenant: string, ids: readonly string[]): Promise<CheckpointRow[]> {
  if (ids.length === 0) return [];
  const rows = await tx
    .select()
    .from(checkpoints)
    .where(and(eq(checkpoints.tenantId, tenant), inArray(checkpoints.sessionId, [...ids])))
    .orderBy(asc(checkpoints.sessionId), asc(checkpoints.seq), asc(checkpoints.keyId));
  return rows.map(toCheckpointRow);
}

/** Records verified archive objects; one already recorded for that head is kept. */
export async function insertArchives(tx: TenantTx, rows: readonly ArchiveRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx
    .insert(archives)
    .values(
      rows.map((a) => ({
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
      })),
    )
    .onConflictDoNothing();
}

/**
 * Releases the hot rows of archived sessions through session_vault_release_archived
 * (drizzle/0012_retention_security.sql), once per session, in one statement: only with a
 * verified archive record at exactly that head and digest, only while the session is
 * still active at that head. Returns the sessions released; one whose head moved
 * meanwhile is not, and stays hot.
 */
export async function releaseArchivedMany(tx: TenantTx, tenant: string, items: readonly { session: string; headSeq: number; digest: Uint8Array }[]): Promise<Set<string>> {
  if (items.length === 0) return new Set();
  const res = await tx.execute(sql`
    SELECT u.s AS session, session_vault_release_archived(${tenant}, u.s, u.h, decode(u.d, 'hex')) AS ok
    FROM unnest(${sql.param(items.map((i) => i.session))}::text[], ${sql.param(items.map((i) => i.headSeq))}::bigint[], ${sql.param(items.map((i) => Buffer.from(i.digest).toString('hex')))}::text[]) AS u(s, h, d)`);
  return new Set(rowsOf<{ session: string; ok: boolean }>(res).filter((r) => r.ok === true).map((r) => r.session));
}
