import { and, asc, desc, eq, gt, gte, inArray, isNotNull, isNull, like, lt, min, or, type SQL } from 'drizzle-orm';
import { accessLog } from '../schema';
import type { TenantTx, VaultDb } from '../types';
import type { AccessRecord } from '../../domain';

/**
 * An access record as stored: the record, its salt (null in the v1 form, before
 * drizzle/0059), its tenant's trail secret (null but in the v3 and v4 forms, drizzle/0061), whether its session's digest is keyed by the session's trail key (the v4 form, drizzle/0062), its chain hash, the signature of the trail head at it, and when the
 * database stored it, by its own clock (drizzle/0057; null before it).
 */
export type AccessRow = AccessRecord & { salt: Uint8Array | null; tenantSecret: Uint8Array | null; sessionKeyed: boolean; hash: Uint8Array; keyId: string | null; signature: Uint8Array | null; storedAt: Date | null };

/** A page of the access trail in seq order after `afterSeq`, optionally for one tenant and since a time. */
export async function readAccess(db: VaultDb, afterSeq: number, limit: number, filter: { tenant?: string; withVault?: boolean; since?: Date } = {}): Promise<AccessRow[]> {
  const conditions: SQL[] = [gt(accessLog.seq, afterSeq)];
  if (filter.tenant !== undefined) conditions.push(filter.withVault ? or(eq(accessLog.tenantId, filter.tenant), isNull(accessLog.tenantId))! : eq(accessLog.tenantId, filter.tenant));
  if (filter.since !== undefined) conditions.push(gte(accessLog.at, filter.since));
  const rows = await db.select().from(accessLog).where(and(...conditions)).orderBy(asc(accessLog.seq)).limit(limit);
  return rows.map(toRow);
}

/**
 * The record of the trail with the highest seq among those dated before `before`, or null
 * when none is: where a listing since a time starts (every later record is dated at
 * `before` or after it).
 */
export async function lastAccessBefore(db: VaultDb, before: Date): Promise<AccessRow | null> {
  const [row] = await db.select().from(accessLog).where(lt(accessLog.at, before)).orderBy(desc(accessLog.seq)).limit(1);
  return row ? toRow(row) : null;
}

/**
 * The legal-hold records (`hold.set`, `hold.clear`) of a tenant's sessions, or of one, in
 * seq order (index access_log_tenant_session), each with the stored hash of the record
 * before it, to check it on its own (audit/access.ts recordSigned).
 */
export async function readHoldRecords(db: TenantTx, tenant: string, session?: string): Promise<(AccessRow & { prevHash: Uint8Array | null })[]> {
  const where = and(eq(accessLog.tenantId, tenant), session === undefined ? undefined : eq(accessLog.sessionId, session), inArray(accessLog.action, ['hold.set', 'hold.clear']));
  return withPrevHashes(db, (await db.select().from(accessLog).where(where).orderBy(asc(accessLog.seq))).map(toRow));
}

/** A session's purge records (`retention.purge`), in seq order, each with the stored hash of the record before it, like readHoldRecords. */
export async function readPurgeRecords(db: TenantTx, tenant: string, session: string): Promise<(AccessRow & { prevHash: Uint8Array | null })[]> {
  const where = and(eq(accessLog.tenantId, tenant), eq(accessLog.sessionId, session), eq(accessLog.action, 'retention.purge'));
  return withPrevHashes(db, (await db.select().from(accessLog).where(where).orderBy(asc(accessLog.seq))).map(toRow));
}

/**
 * A tenant's retention policy changes (`retention.set…`, `retention.override…`, records
 * of the tenant, not of a session), in seq order, each with the stored hash of the
 * record before it, like readHoldRecords.
 */
export async function readPolicyRecords(db: TenantTx, tenant: string): Promise<(AccessRow & { prevHash: Uint8Array | null })[]> {
  const policy = or(inArray(accessLog.action, ['retention.set', 'retention.override']), like(accessLog.action, 'retention.set:%'), like(accessLog.action, 'retention.override:%'));
  const where = and(eq(accessLog.tenantId, tenant), isNull(accessLog.sessionId), policy);
  return withPrevHashes(db, (await db.select().from(accessLog).where(where).orderBy(asc(accessLog.seq))).map(toRow));
}

/** The records of a token's creation (`tokens.create:<id>:<role>`) in a tenant, each with the stored hash of the record before it, like readHoldRecords. */
export async function readTokenRecords(db: TenantTx, tenant: string, tokenId: string): Promise<(AccessRow & { prevHash: Uint8Array | null })[]> {
  const where = and(eq(accessLog.tenantId, tenant), like(accessLog.action, `tokens.create:${tokenId}:%`));
  return withPrevHashes(db, (await db.select().from(accessLog).where(where).orderBy(asc(accessLog.seq))).map(toRow));
}

/**
 * The seq of the trail's first record that names one of `keyIds` as its signer, or null
 * (index access_log_key_seq): where a retired key's records stop counting as the vault's
 * own (audit/key-period.ts, recordInPeriod).
 */
export async function firstRecordNaming(db: TenantTx, keyIds: readonly string[]): Promise<number | null> {
  if (keyIds.length === 0) return null;
  const [row] = await db.select({ seq: min(accessLog.seq) }).from(accessLog).where(inArray(accessLog.keyId, [...keyIds]));
  return row?.seq ?? null;
}

/** Whether any record of the trail is signed: a vault that signs nothing has only unsigned records to go on. */
export async function anySignedAccess(db: VaultDb): Promise<boolean> {
  const [row] = await db.select({ seq: accessLog.seq }).from(accessLog).where(isNotNull(accessLog.signature)).limit(1);
  return row !== undefined;
}

async function withPrevHashes(db: TenantTx, rows: AccessRow[]): Promise<(AccessRow & { prevHash: Uint8Array | null })[]> {
  if (rows.length === 0) return [];
  const before = await db
    .select({ seq: accessLog.seq, hash: accessLog.hash })
    .from(accessLog)
    .where(inArray(accessLog.seq, rows.map((r) => r.seq - 1)));
  const hashes = new Map(before.map((b) => [b.seq, b.hash]));
  return rows.map((r) => ({ ...r, prevHash: hashes.get(r.seq - 1) ?? null }));
}

function toRow(r: typeof accessLog.$inferSelect): AccessRow {
  return { seq: r.seq, at: r.at, actor: r.actor, action: r.action, tenant: r.tenantId, session: r.sessionId, reason: r.reason, outcome: r.outcome, salt: r.salt, tenantSecret: r.tenantSecret, sessionKeyed: r.sessionKeyed, hash: r.hash, keyId: r.keyId, signature: r.signature, storedAt: r.storedAt };
}
