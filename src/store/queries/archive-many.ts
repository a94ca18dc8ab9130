import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { StoredEvent } from '../../domain';
import { checkpoints, events, sessions } from '../schema';
import { positional, type Statement } from '../statement';
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

const INSERT_ARCHIVES: Statement = {
  name: 'session_vault_insert_archives_v2',
  text: `INSERT INTO archives (tenant_id, session_id, head_seq, head_hash, object_name, store, digest, bytes, archived_at, archived_by, verified_at, proof)
SELECT u.tenant_id, u.session_id, u.head_seq, decode(u.head_hash, 'hex'), u.object_name, u.store, decode(u.digest, 'hex'), u.bytes, u.archived_at, u.archived_by, u.verified_at, decode(u.proof, 'hex')
  FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::timestamptz[], $10::text[], $11::timestamptz[], $12::text[])
       AS u(tenant_id, session_id, head_seq, head_hash, object_name, store, digest, bytes, archived_at, archived_by, verified_at, proof)
ON CONFLICT DO NOTHING`,
};

/**
 * Records verified archive objects in one statement, a column an array (drizzle's insert
 * builder took about a twentieth of a retention run's time building a group's 1,100
 * parameters), each with its release proof (the database stores none without: 0079);
 * one already recorded for that head is kept.
 */
export async function insertArchives(tx: TenantTx, rows: readonly (ArchiveRow & { proof: Uint8Array })[]): Promise<void> {
  if (rows.length === 0) return;
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  await tx.execute(
    positional(INSERT_ARCHIVES, [
      rows.map((a) => a.tenant),
      rows.map((a) => a.session),
      rows.map((a) => a.headSeq),
      rows.map((a) => hex(a.headHash)),
      rows.map((a) => a.objectName),
      rows.map((a) => a.store),
      rows.map((a) => hex(a.digest)),
      rows.map((a) => a.bytes),
      rows.map((a) => a.archivedAt),
      rows.map((a) => a.archivedBy),
      rows.map((a) => a.verifiedAt),
      rows.map((a) => hex(a.proof)),
    ]),
  );
}

/**
 * Releases the hot rows of archived sessions through session_vault_release_archived
 * (drizzle/0012_retention_security.sql, 0078), once per session, in one statement: only
 * with a verified archive record at exactly that head and digest and the release proof
 * for them (src/crypto/release-proof.ts), only while the session is still active at that
 * head. Returns the sessions released; one whose head moved meanwhile is not, and stays hot.
 */
export async function releaseArchivedMany(
  tx: TenantTx,
  tenant: string,
  items: readonly { session: string; headSeq: number; digest: Uint8Array; proof: Uint8Array }[],
): Promise<Set<string>> {
  if (items.length === 0) return new Set();
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const res = await tx.execute(sql`
    SELECT u.s AS session, session_vault_release_archived(${tenant}, u.s, u.h, decode(u.d, 'hex'), decode(u.p, 'hex')) AS ok
    FROM unnest(${sql.param(items.map((i) => i.session))}::text[], ${sql.param(items.map((i) => i.headSeq))}::bigint[],
                ${sql.param(items.map((i) => hex(i.digest)))}::text[], ${sql.param(items.map((i) => hex(i.proof)))}::text[]) AS u(s, h, d, p)`);
  return new Set(rowsOf<{ session: string; ok: boolean }>(res).filter((r) => r.ok === true).map((r) => r.session));
}
