import { isoTime, type StoredEvent } from '../domain';
import { InputError, IntegrityError, StorageError } from '../errors';
import {
  archiveEventParts,
  archiveObjectName,
  decodeArchive,
  verifyArchive,
  describePolicy,
  encodeArchive,
  objectDigest,
  parseDuration,
  parsePolicy,
  storedPolicy,
  purgeDue,
  withFloor,
  type ArchiveContent,
  type ArchiveExpectation,
  type Duration,
  type RetentionMode,
  type RetentionPolicy,
} from '../retention';
import {
  deleteSnapshots,
  insertArchives,
  listArchives,
  listTenants,
  markObjectsDeleted,
  purgeSession,
  readCheckpoints,
  readCheckpointsOf,
  readEvents,
  readEventsOf,
  readHolds,
  readPolicy,
  readSession,
  readSessions,
  readTombstone,
  releaseArchivedMany,
  archiveDigestsAt,
  clearStrayEvents,
  restoreEvents,
  RESTORE_CHUNK,
  setRetainFloor,
  withTenant,
  writePolicy,
  type SessionRow,
} from '../store';
import { bytesEqual, toHex } from '../crypto';
import { eachAtMost } from './at-most';
import type { VaultDeps } from './deps';
import { requireSession } from './session-row';
import { requireHoldsRecorded } from './lifted-holds';
import { keptBy, signedLastAt, trailRetention } from './recorded-retention';

/**
 * Moving sessions between hot Postgres and the archive store (docs/retention.md):
 *   archive  hot rows → one verified object in the store → hot rows released
 *   read     the object fetched and verified on every read of an archived session
 *   restore  the object's rows put back, the session active again
 *   purge    tombstone + data key deleted + status purged, then the objects deleted
 * Each step is one database transaction, taken only after the store has done its part,
 * so a crash at any point leaves the session either as it was or finished, never lost.
 */

/** A tenant's policy: its own, or the vault's default. */
export async function policyOf(
  deps: VaultDeps,
  tenant: string,
): Promise<{ policy: RetentionPolicy; source: 'tenant' | 'default'; mode: RetentionMode; setBy: string | null; setAt: Date | null }> {
  const row = await withTenant(deps.store.db, tenant, 'reading the retention policy', (tx) => readPolicy(tx, tenant));
  if (!row) return { policy: deps.defaultRetention, source: 'default', mode: 'governance', setBy: null, setAt: null };
  return { policy: storedPolicy(tenant, row), source: 'tenant', mode: row.mode, setBy: row.setBy, setAt: row.setAt };
}

/** What a policy change may also do: switch to compliance mode, or (governance mode only) lower existing sessions' floors. */
export interface PolicyChange {
  archiveAfter: string;
  retain: string;
  /** `compliance` is for good: the database refuses going back. */
  mode?: RetentionMode;
  /** Apply `retain` to existing sessions too, lowering their floors (governance mode only; RETENTION_LOCKED otherwise). */
  overrideFloors?: boolean;
}

/**
 * Sets a tenant's policy (validated: INVALID_INPUT, nothing changed). A shorter `retain`
 * applies to sessions created from now on; existing sessions keep their floors unless
 * `overrideFloors`, which a compliance-mode tenant refuses (RETENTION_LOCKED), as the
 * database does. Returns how many sessions' floors an override set.
 */
export async function setPolicy(deps: VaultDeps, tenant: string, input: PolicyChange, setBy: string): Promise<{ policy: RetentionPolicy; mode: RetentionMode; floorsSet: number }> {
  const policy = parsePolicy(input);
  await requireTenant(deps, tenant);
  const result = await withTenant(deps.store.db, tenant, 'setting the retention policy', async (tx) => {
    const current = await readPolicy(tx, tenant);
    const mode: RetentionMode = input.mode ?? current?.mode ?? 'governance';
    if (current?.mode === 'compliance' && mode !== 'compliance') {
      throw new InputError('RETENTION_LOCKED', `tenant ${tenant} is in compliance mode, which cannot be lifted`);
    }
    if (input.overrideFloors && mode === 'compliance') {
      throw new InputError('RETENTION_LOCKED', `tenant ${tenant} is in compliance mode: existing sessions keep their retention floors`);
    }
    await writePolicy(tx, { tenant, archiveAfter: input.archiveAfter, retain: input.retain, setBy, setAt: deps.clock(), mode });
    const floorsSet = input.overrideFloors ? await setRetainFloor(tx, tenant, input.retain) : 0;
    return { mode, floorsSet };
  });
  if (result.floorsSet > 0) deps.cache.clear();
  deps.logger.info({ op: 'retention.set', tenant, policy: describePolicy(policy), mode: result.mode, floorsSet: result.floorsSet }, 'retention policy set');
  return { policy, ...result };
}

/** The retention floor a session row records, or null (a session older than floors). */
export function floorOf(row: { retainFloor: string | null }): Duration | null {
  if (row.retainFloor === null) return null;
  try {
    return parseDuration(row.retainFloor, 'retention floor');
  } catch {
    throw new IntegrityError('CHAIN_BROKEN', `a session's retention floor is unreadable (${JSON.stringify(row.retainFloor.slice(0, 12))})`);
  }
}

/** What archiving one session did. */
export interface ArchiveResult {
  tenant: string;
  session: string;
  /** `archived` now; `already` archived before; `changed` — an append came in meanwhile, the session stays hot. */
  outcome: 'archived' | 'already' | 'changed';
  events: number;
  bytes: number;
  /** SHA-256 of the object (hex), as recorded. */
  digest: string | null;
  object: string | null;
}

/**
 * Archives one session: its events as stored and its checkpoints are written to the
 * archive store as one object, read back and verified, recorded, and only then are the
 * hot rows released (one transaction). UNKNOWN_SESSION; SESSION_STATE for an empty or
 * purged session; LEGAL_HOLD for a held one (its events stay in the database, which
 * refuses to release them: drizzle/0074); STORAGE_UNAVAILABLE (nothing removed) when the
 * store cannot be reached.
 */
export async function archiveSession(deps: VaultDeps, tenant: string, session: string, actor: string, tenantPolicy?: RetentionPolicy): Promise<ArchiveResult> {
  const row = await requireSession(deps, tenant, session);
  if (archivable(row) === 'already') return { ...unchanged(row), outcome: 'already' };
  if ((await withTenant(deps.store.db, tenant, 'reading legal holds', (tx) => readHolds(tx, tenant, session))).length > 0) {
    throw new InputError('LEGAL_HOLD', `session ${tenant}/${session} is under legal hold; its events stay in the database until the hold is cleared`);
  }
  // Archived under the longer of the session's floor and today's policy (a retention run passes the tenant's): the object is locked until then, and the database raises the floor to it (drizzle/0073).
  const policy = withFloor(tenantPolicy ?? (await policyOf(deps, tenant)).policy, floorOf(row));
  const written = await writeArchive(deps, row, () => hotContent(deps, row), policy);
  const { released, refused } = await recordArchives(deps, tenant, [written], actor);
  const e = refused.get(session);
  if (e) throw e;
  return archived(deps, written, released.has(session));
}

/**
 * Archives several small sessions of a tenant as `archiveSession` does each, with one
 * transaction to read them all, their objects written a few at a time, and one
 * transaction to record and release them all. Each session's result, or the error it
 * failed with (an unreachable store among them: the caller stops). For a retention run's
 * groups; the caller keeps the group's events few enough to hold in memory.
 */
export async function archiveMany(deps: VaultDeps, tenant: string, ids: readonly string[], actor: string, tenantPolicy: RetentionPolicy, concurrency = 16): Promise<Map<string, ArchiveResult | Error>> {
  const out = new Map<string, ArchiveResult | Error>();
  const read = await withTenant(deps.store.db, tenant, 'reading sessions to archive', async (tx) => {
    const rows = await readSessions(tx, tenant, ids);
    const live = rows.filter((r) => r.status === 'active').map((r) => r.session);
    return { rows, events: await readEventsOf(tx, tenant, live), checkpoints: await readCheckpointsOf(tx, tenant, live) };
  });
  const rows = new Map(read.rows.map((r) => [r.session, r]));
  const bySession = groupBy(read.events, (e) => e.session);
  const notesBySession = groupBy(read.checkpoints, (c) => c.session);
  const todo: { row: SessionRow; content: ArchiveContent; policy: RetentionPolicy }[] = [];
  for (const id of ids) {
    const row = rows.get(id);
    try {
      if (!row) throw new InputError('UNKNOWN_SESSION', `unknown session ${tenant}/${id}`);
      if (archivable(row) === 'already') {
        out.set(id, { ...unchanged(row), outcome: 'already' });
        continue;
      }
      const events = (bySession.get(id) ?? []).filter((e) => e.seq <= row.headSeq);
      todo.push({ row, content: contentOf(row, events, (notesBySession.get(id) ?? []).filter((c) => c.seq <= row.headSeq).map((c) => c.note)), policy: withFloor(tenantPolicy, floorOf(row)) });
    } catch (e) {
      out.set(id, e as Error);
    }
  }
  const written: Written[] = [];
  await eachAtMost(todo, concurrency, async (t) => {
    try {
      written.push(await writeArchive(deps, t.row, async () => t.content, t.policy));
    } catch (e) {
      out.set(t.row.session, e as Error);
    }
  });
  const { released, refused } = await recordArchives(deps, tenant, written, actor);
  for (const w of written) out.set(w.row.session, refused.get(w.row.session) ?? archived(deps, w, released.has(w.row.session)));
  return out;
}

/** Whether a session can be archived: 'yes', or 'already' archived; SESSION_STATE for a purged or empty one. */
function archivable(row: SessionRow): 'yes' | 'already' {
  const { tenant, session } = row;
  if (row.status === 'archived') return 'already';
  if (row.status === 'purged') throw new InputError('SESSION_STATE', `session ${tenant}/${session} was purged`);
  if (row.headSeq === 0 || !row.headHash || !row.lastAt) throw new InputError('SESSION_STATE', `session ${tenant}/${session} has no events to archive`);
  return 'yes';
}

const unchanged = (row: SessionRow) => ({ tenant: row.tenant, session: row.session, events: row.headSeq, bytes: 0, digest: null, object: null });

/** An archive object written and verified, not yet recorded. */
interface Written {
  row: SessionRow;
  name: string;
  /** The stored object's size and digest (its bytes are not kept: a long session's are megabytes). */
  encoded: { bytes: number; digest: Uint8Array };
  policy: RetentionPolicy;
}

/**
 * Writes a session's archive object, then reads it back and verifies it, before anything
 * leaves Postgres. An object is written once and never over: where one is at the name
 * already (another run archived the session at this head a moment before, or it was
 * archived and restored since), that one is kept and verified against the head, and its
 * digest is the one recorded. Written over, the object would no longer be the one a
 * concurrent archive recorded (ARCHIVE_CORRUPT on every read after).
 */
async function writeArchive(deps: VaultDeps, row: SessionRow, content: () => Promise<ArchiveContent>, policy: RetentionPolicy): Promise<Written> {
  const { tenant, session } = row;
  const name = archiveObjectName(tenant, session, row.headSeq);
  const written = await putObject(deps, name, content, purgeDue(row.lastAt!, policy));
  const stored = await deps.archive.get(name);
  if (!stored) throw new StorageError('STORAGE_REFUSED', `archive ${deps.archive.location} lost an object right after writing it; nothing was removed`);
  const digest = written ?? objectDigest(stored);
  await verifyArchive(stored, { tenant, session, headSeq: row.headSeq, headHash: row.headHash!, digest });
  deps.logger.debug({ op: 'retention.archive.verified', tenant, session, object: name, kept: !written }, 'archive object written and verified');
  return { row, name, encoded: { bytes: stored.length, digest }, policy };
}

/**
 * Encodes and writes the object unless one is at the name: its digest, or null where one
 * was kept. The events read for it and its bytes go with this frame, before the object is
 * read back: a long session's are tens of megabytes.
 */
async function putObject(deps: VaultDeps, name: string, content: () => Promise<ArchiveContent>, retainUntil: Date): Promise<Uint8Array | null> {
  const encoded = await encodeArchive(await content());
  const fresh = await deps.archive.putIfVersion(name, encoded.bytes, null, { contentType: 'application/gzip', retainUntil });
  return fresh ? encoded.digest : null;
}

/**
 * Records verified archive objects and releases their sessions' hot rows, in one
 * transaction: the sessions released (one appended to meanwhile is not: it stays hot),
 * and those refused. A session whose head already has an archive record of another
 * digest than its object's (written outside the vault before 0079, which stores a record
 * only with a keyholder's proof: the object the vault verified is not the one it names)
 * is refused ARCHIVE_CORRUPT and stays hot, left out of the transaction, so that the
 * release's refusal of it does not undo the others' archives.
 */
async function recordArchives(deps: VaultDeps, tenant: string, all: readonly Written[], actor: string): Promise<{ released: Set<string>; refused: Map<string, IntegrityError> }> {
  const refused = new Map<string, IntegrityError>();
  if (all.length === 0) return { released: new Set(), refused };
  const now = deps.clock();
  // What the database asks before it stores an archive record and before it deletes a session's events (0078, 0079): that this process holds the vault's keys.
  const proofs = new Map<string, Uint8Array>();
  for (const w of all) proofs.set(w.row.session, await deps.releaseKey.proof({ tenant, session: w.row.session, headSeq: w.row.headSeq, digest: w.encoded.digest }));
  const released = await withTenant(deps.store.db, tenant, 'archiving sessions', async (tx) => {
    const recorded = await archiveDigestsAt(tx, tenant, all.map((w) => ({ session: w.row.session, headSeq: w.row.headSeq })));
    const written = all.filter((w) => {
      const digest = recorded.get(w.row.session);
      if (!digest || bytesEqual(digest, w.encoded.digest)) return true;
      refused.set(
        w.row.session,
        new IntegrityError('ARCHIVE_CORRUPT', `an archive record of ${tenant}/${w.row.session} at its head (seq ${w.row.headSeq}) names another object than the one in the store: written outside the vault; the session stays hot until it is appended to`),
      );
      return false;
    });
    if (written.length === 0) return new Set<string>();
    await insertArchives(
      tx,
      written.map(({ row, name, encoded }) => ({
        tenant,
        session: row.session,
        headSeq: row.headSeq,
        headHash: row.headHash!,
        objectName: name,
        store: deps.archive.location,
        digest: encoded.digest,
        bytes: encoded.bytes,
        archivedAt: now,
        archivedBy: actor,
        verifiedAt: now,
        proof: proofs.get(row.session)!,
      })),
    );
    // Releasing a session archives it, and the database raises its floor to the tenant's retain then (drizzle/0073), whoever archives it: the retention role may not write floors.
    return releaseArchivedMany(tx, tenant, written.map((w) => ({ session: w.row.session, headSeq: w.row.headSeq, digest: w.encoded.digest, proof: proofs.get(w.row.session)! })));
  });
  for (const w of all) deps.cache.delete(tenant, w.row.session);
  for (const [session, e] of refused) deps.logger.warn({ op: 'retention.archive', tenant, session, code: e.code }, 'an archive record at the head was written outside the vault; the session stays hot');
  return { released, refused };
}

function archived(deps: VaultDeps, w: Written, released: boolean): ArchiveResult {
  const { tenant, session, headSeq } = w.row;
  if (!released) {
    deps.logger.info({ op: 'retention.archive', tenant, session }, 'session changed while archiving; it stays hot');
    return { ...unchanged(w.row), outcome: 'changed' };
  }
  const digest = toHex(w.encoded.digest);
  deps.logger.info({ op: 'retention.archive', tenant, session, events: headSeq, bytes: w.encoded.bytes, digest }, 'session archived');
  return { tenant, session, outcome: 'archived', events: headSeq, bytes: w.encoded.bytes, digest, object: w.name };
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

/**
 * The archived content of an archived session, fetched from the store and verified
 * against the database's record (digest, head, chain). ARCHIVE_MISSING when the record or
 * the object is gone; ARCHIVE_CORRUPT when the object differs; STORAGE_UNAVAILABLE when
 * the store cannot be reached.
 */
export async function readArchived(deps: VaultDeps, row: SessionRow): Promise<ArchiveContent> {
  const { bytes, expect } = await fetchArchived(deps, row);
  return decodeArchive(bytes, expect);
}

/** An archived session's object, as stored, and what the database recorded of it (not yet verified). */
async function fetchArchived(deps: VaultDeps, row: SessionRow): Promise<{ bytes: Uint8Array; expect: ArchiveExpectation }> {
  const { tenant, session } = row;
  const records = await withTenant(deps.store.db, tenant, 'reading archive records', (tx) => listArchives(tx, tenant, session));
  const record = records.find((r) => r.headSeq === row.headSeq);
  if (!record || !row.headHash) throw new IntegrityError('ARCHIVE_MISSING', `session ${tenant}/${session} is archived but has no archive record at its head`);
  const bytes = await deps.archive.get(record.objectName);
  if (!bytes) throw new IntegrityError('ARCHIVE_MISSING', `the archive object of ${tenant}/${session} is missing from ${deps.archive.location}`);
  return { bytes, expect: { tenant, session, headSeq: row.headSeq, headHash: row.headHash, digest: record.digest } };
}

/**
 * Brings an archived session back to hot storage: any rows it has in the table are deleted
 * (inserted by hand: none can be its own, drizzle/0075), the verified archived rows are put
 * back and the session is active again (one transaction). Returns false if it was not
 * archived. The object is verified whole first, so that a bad one changes nothing, then
 * read again a part at a time as its parts are written: the session's events are never
 * held at once (a long session's are tens of megabytes).
 */
export async function restoreSession(deps: VaultDeps, tenant: string, session: string): Promise<boolean> {
  const row = await requireSession(deps, tenant, session);
  if (row.status === 'active') return false;
  if (row.status === 'purged') throw new InputError('SESSION_STATE', `session ${tenant}/${session} was purged; nothing can be restored`);
  const { bytes, expect } = await fetchArchived(deps, row);
  await verifyArchive(bytes, expect);
  const { restored, stray } = await withTenant(deps.store.db, tenant, 'restoring a session', async (tx) => {
    const stray = await clearStrayEvents(tx, tenant, session); // rows inserted by hand would block the restore (drizzle/0075)
    const parts = archiveEventParts(bytes, expect, RESTORE_CHUNK);
    return { stray, restored: await restoreEvents(tx, tenant, session, { seq: expect.headSeq, hash: expect.headHash }, parts) };
  });
  if (stray > 0) deps.logger.warn({ op: 'retention.restore', tenant, session, rows: stray }, 'rows inserted by hand into the archived session were deleted before its restore');
  deps.cache.delete(tenant, session);
  deps.logger.info({ op: 'retention.restore', tenant, session, events: expect.headSeq, restored }, 'session restored');
  return restored;
}

/** What purging one session did. */
export interface PurgeResult {
  tenant: string;
  session: string;
  purgedAt: string;
  dueAt: string;
  head: string | null;
  objectsDeleted: number;
}

/**
 * Purges an archived session past its retention: in one transaction its tombstone is
 * written, its data key deleted and its status set to `purged`; then its archive objects
 * are deleted and the tombstone stamped. SESSION_STATE unless archived, RETENTION_NOT_DUE
 * before `retain` has passed, LEGAL_HOLD under a hold; nothing changes on any of them.
 * A purged session whose objects are not deleted yet (a purge that stopped before that
 * step, or one made outside the vault, which a retention run leaves: recorded-purge.ts)
 * has them deleted now: the operator's purge record, written first, is the decision.
 */
export async function purge(deps: VaultDeps, tenant: string, session: string, actor: string): Promise<PurgeResult> {
  const now = deps.clock();
  const purged = await withTenant(deps.store.db, tenant, 'purging a session', async (tx) => {
    // Read locked, and used as read: a hold set meanwhile is seen, or waits; nothing moves under the checks.
    const row = await readSession(tx, tenant, session, true);
    if (!row) throw new InputError('UNKNOWN_SESSION', `unknown session ${tenant}/${session}`);
    const pending = row.status === 'purged' ? await readTombstone(tx, tenant, session) : null;
    if (pending && pending.objectsDeletedAt === null) return { kind: 'finish' as const, row, pending };
    if (row.status !== 'archived') {
      throw new InputError('SESSION_STATE', `session ${tenant}/${session} is ${row.status}; only an archived session can be purged`);
    }
    // Due by the tenant's policy and the session's floor, and by what the signed trail
    // promised the session (archiving raised it), should the operator role have shortened either.
    // Counted from the head's signed time if the row's is earlier (moved back outside the vault).
    const kept = await keptBy(deps, tx, tenant);
    const archived = await listArchives(tx, tenant, session);
    const archivedAt = archived.map((a) => a.archivedAt);
    const policy = trailRetention(withFloor(kept.policy, floorOf(row)), kept.history, { ...row, archivedAt }, deps.defaultRetention.retain);
    const lastAt = (await signedLastAt(deps, tx, row))!;
    const dueAt = purgeDue(lastAt, policy);
    // Fails closed: a due date that is no time (a stored time past the database's checks) is never reached.
    if (!(dueAt.getTime() <= now.getTime())) {
      throw new InputError('RETENTION_NOT_DUE', `session ${tenant}/${session} must be kept until ${isoTime(dueAt)} (${describePolicy(policy)})`);
    }
    const holds = await readHolds(tx, tenant, session);
    if (holds.length > 0) throw new InputError('LEGAL_HOLD', `session ${tenant}/${session} is under legal hold; it is never purged while held`);
    await requireHoldsRecorded(deps, tx, tenant, session);
    const latest = archived.find((a) => a.headSeq === row.headSeq);
    if (!latest) throw new IntegrityError('ARCHIVE_MISSING', `session ${tenant}/${session} has no archive record at its head`);
    const ok = await purgeSession(tx, {
      tenant,
      session,
      headSeq: row.headSeq,
      headHash: row.headHash,
      archiveDigest: latest.digest,
      lastAt,
      dueAt,
      purgedAt: now,
      purgedBy: actor,
      policy: describePolicy(policy),
    });
    if (!ok) throw new InputError('SESSION_STATE', `session ${tenant}/${session} changed while purging; nothing was purged`);
    await deleteSnapshots(tx, tenant, session);
    return { kind: 'purged' as const, row, records: archived, dueAt };
  });
  if (purged.kind === 'finish') {
    const { row, pending } = purged;
    const deleted = await deleteObjects(deps, tenant, session);
    deps.logger.info({ op: 'retention.purge', tenant, session, objects: deleted, purgedBy: pending.purgedBy }, "a purged session's objects deleted");
    return { tenant, session, purgedAt: pending.purgedAt.toISOString(), dueAt: pending.dueAt.toISOString(), head: row.headHash ? toHex(row.headHash) : null, objectsDeleted: deleted };
  }
  const { row, records, dueAt } = purged;
  deps.cache.delete(tenant, session);
  const deleted = await deleteObjects(deps, tenant, session, records.map((r) => r.objectName));
  deps.logger.info({ op: 'retention.purge', tenant, session, objects: deleted }, 'session purged');
  return { tenant, session, purgedAt: now.toISOString(), dueAt: dueAt.toISOString(), head: row.headHash ? toHex(row.headHash) : null, objectsDeleted: deleted };
}

/**
 * Deletes a purged session's archive objects and stamps its tombstone. Idempotent: a
 * retention run calls it again for tombstones a crash left unstamped.
 */
export async function deleteObjects(deps: VaultDeps, tenant: string, session: string, names?: string[]): Promise<number> {
  const objects = names ?? (await withTenant(deps.store.db, tenant, 'reading archive records', (tx) => listArchives(tx, tenant, session))).map((r) => r.objectName);
  for (const name of objects) await deps.archive.delete(name);
  await withTenant(deps.store.db, tenant, 'stamping a tombstone', (tx) => markObjectsDeleted(tx, tenant, session, deps.clock()));
  return objects.length;
}

/** UNKNOWN_TENANT unless the tenant exists. */
export async function requireTenant(deps: VaultDeps, tenant: string): Promise<void> {
  if (!(await listTenants(deps.store.db)).some((t) => t.tenant === tenant)) throw new InputError('UNKNOWN_TENANT', `unknown tenant ${tenant}`);
}

/** A hot session's events and checkpoints, read in pages (the object is built in memory: one session at a time). */
async function hotContent(deps: VaultDeps, row: SessionRow): Promise<ArchiveContent> {
  const { tenant, session } = row;
  // One read-only transaction for the events and the checkpoints: one snapshot of both, one round trip of overhead.
  const { events, checkpoints } = await withTenant(deps.store.db, tenant, 'reading a session to archive', async (tx) => {
    const events: StoredEvent[] = [];
    for (let after = 0; ; ) {
      const page = await readEvents(tx, tenant, session, after, 500);
      // Up to the head read before: an append meanwhile is caught by the release, which then refuses.
      events.push(...page.filter((e) => e.seq <= row.headSeq));
      if (page.length < 500 || page[page.length - 1]!.seq >= row.headSeq) break;
      after = page[page.length - 1]!.seq;
    }
    const checkpoints: string[] = [];
    for (let after = 0; ; ) {
      const page = await readCheckpoints(tx, tenant, session, after, 1000);
      checkpoints.push(...page.filter((c) => c.seq <= row.headSeq).map((c) => c.note));
      if (page.length < 1000) break;
      after = page[page.length - 1]!.seq;
    }
    return { events, checkpoints };
  });
  return contentOf(row, events, checkpoints);
}

/** A session's archived content from its events and checkpoint notes; CHAIN_BROKEN when events are missing below the head. */
function contentOf(row: SessionRow, events: StoredEvent[], checkpoints: string[]): ArchiveContent {
  const { tenant, session } = row;
  if (events.length !== row.headSeq) {
    throw new IntegrityError('CHAIN_BROKEN', `session ${tenant}/${session} holds ${events.length} events but its head is at ${row.headSeq}; run verify`);
  }
  return { tenant, session, agent: row.agent, events, checkpoints };
}

