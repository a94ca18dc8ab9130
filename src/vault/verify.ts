import { InputError, IntegrityError } from '../errors';
import { bytesEqual } from '../crypto';
import { addDuration, floorRecorded, parseDuration, policyRecorded, type RetentionProblemKind } from '../retention';
import { ChainVerifier, type ChainProblemKind } from '../events';
import { AccessChainVerifier, checkHolds, checkpointTimeProblem, snapshotSigned, storedAfterPeriod, type KeyPeriods, checkPurges, HeadCheck, signedHeadTime, unsignedTail, type HoldHistory, type HoldProblem, type HoldProblemKind, type PurgeProblem, type PurgeStamp, parseCheckpoint, parseTrailHead, type AccessProblemKind, verifyCheckpoint, type CheckpointProblem, type HeadProblemKind, type SignedHead } from '../audit';
import { anySignedAccess, archiveTimes, listSessions, listTenantKeys, snapshotHeads, listTenants, readCheckpoints, signedSnapshots, readHoldHistory, readPolicy, readSession, readTombstone, sessionsWithStrayEvents, strayTombstones, withTenant, type AccessRow, type CheckpointRow, type SessionRow, type TombstoneRow } from '../store';
import type { VaultDeps } from './deps';
import { requireSession, sessionRow } from './session-row';
import { storedChunks } from './read';
import { accessTrail } from './access';
import { recordedPolicies } from './recorded-retention';
import { sessionSubject, storedWrapSigned, tenantKeySubject } from './key-wraps';

/** One thing verification found wrong (docs/auditor-guide.md explains each kind). */
export interface VerifyProblem {
  tenant: string;
  session: string;
  seq: number;
  kind:
    | ChainProblemKind
    | HeadProblemKind
    | CheckpointProblem
    | 'checkpoint_outside_key_period'
    | 'session_missing'
    | AccessProblemKind
    | HoldProblemKind
    | PurgeProblem['kind']
    | 'archive_missing'
    | 'archive_corrupt'
    | 'stray_events'
    | 'tombstone_missing'
    | 'tombstone_mismatch'
    | 'purged_early'
    | 'key_missing'
    | 'last_at_mismatch'
    | 'unsigned_tail'
    | 'session_key_unsigned'
    | 'tenant_key_unsigned'
    | 'snapshot_unsigned'
    | RetentionProblemKind;
}

/** The `verify --json` document. */
export interface VerifyReport {
  ok: boolean;
  sessions: number;
  events: number;
  problems: VerifyProblem[];
}

export interface VerifyScope {
  tenant?: string;
  session?: string;
  /** Called after each session, for progress. */
  onSession?: (tenant: string, session: string) => void;
}

/**
 * Checks, without any decryption key:
 * - every chain: each event's hash from its stored columns and its predecessor, seqs
 *   gapless from 1, the session's recorded head;
 * - every signed checkpoint in the database: its signature by a trusted key, and that the
 *   chain passes through it (catches tail truncation and a chain recomputed after an edit),
 *   and that no event follows the last signed head (events appended without the signing
 *   key: audit/head-check.ts, unsignedTail);
 * - the witness outside the database: that the chain reaches the latest witnessed head,
 *   and that no witnessed session is missing (catches a rollback to an older backup);
 * - that the session's recorded last-event time, which retention counts from, is its
 *   last event's;
 * - every signed state snapshot's signature, over its place and sealed bytes: one no
 *   trusted key made is named where the vault signs (reads do not start from it);
 * - every key wrap, a session's and a tenant key version's: its signature by a trusted key
 *   over what it wraps and its bytes (vault/key-wraps.ts), so other bytes the operator
 *   role wrote over a key are named, where the vault signs;
 * - the operator access trail's own chain;
 * - every legal hold, set or cleared, and every purge, against the trail's records of
 *   them (a hold cleared, or a session purged, by the database role on its own has
 *   none: audit/hold-check.ts, audit/purge-check.ts);
 * - the tenant's retention policy and every session's retention floor against the
 *   trail's records of policy changes (retention/recorded-policy.ts);
 * - that an archived or purged session has no rows in the events table (`stray_events`:
 *   inserted by hand; a restore deletes them first, drizzle/0075).
 * Trusted keys come from the keyring's public halves and the witness, never the database.
 */
export async function verify(deps: VaultDeps, scope: VerifyScope = {}): Promise<VerifyReport> {
  const report: VerifyReport = { ok: true, sessions: 0, events: 0, problems: [] };
  const all = (await listTenants(deps.store.db)).map((t) => t.tenant);
  if (scope.tenant !== undefined && !all.includes(scope.tenant)) {
    throw new InputError('UNKNOWN_TENANT', `unknown tenant ${scope.tenant}`);
  }
  const trusted = await deps.trustedKeys();
  const periods = await deps.keyPeriods();
  const tenants = scope.tenant !== undefined ? [scope.tenant] : all;
  const seen = new Set<string>();
  const holds: HoldHistory[] = [];
  const purged: PurgeStamp[] = [];
  const fallback = deps.defaultRetention.retain;
  const signs = await anySignedAccess(deps.store.db); // verify needs no keyring: the trail says whether the vault signs
  // Listed before the database's sessions: a session created while verify runs is in
  // neither list, where listed after it would be in the witness's alone ("missing").
  const witnessedSessions = deps.witness && scope.session === undefined ? await deps.witness.sessions(scope.tenant) : [];
  for (const tenant of tenants) {
    holds.push(...(await withTenant(deps.store.db, tenant, 'reading legal holds', (tx) => readHoldHistory(tx, tenant, scope.session))));
    // The tenant's policy and each session's floor against the policy changes its signed trail records.
    const kept = await withTenant(deps.store.db, tenant, 'reading the retention policy', async (tx) => ({
      policy: await readPolicy(tx, tenant),
      history: await recordedPolicies(deps, tx, tenant, signs),
      archived: await archiveTimes(tx, tenant, scope.session), // archiving raised those sessions' floors
    }));
    if (!policyRecorded(kept.policy, kept.history)) report.problems.push({ tenant, session: '(retention policy)', seq: kept.history[kept.history.length - 1]?.seq ?? 0, kind: 'policy_unrecorded' });
    // A tombstone is written with its session's purge, in one transaction: one of a session that is not purged was written outside the vault, ahead of a purge (0068).
    for (const t of await withTenant(deps.store.db, tenant, 'reading tombstones', (tx) => strayTombstones(tx, tenant, scope.session))) {
      report.problems.push({ tenant, session: t.session, seq: t.headSeq, kind: 'tombstone_mismatch' });
    }
    // An archived or purged session has no rows in the table: rows there were inserted by hand, and would block its restore until one clears them (0075).
    for (const s of await withTenant(deps.store.db, tenant, 'reading stray events', (tx) => sessionsWithStrayEvents(tx, tenant, scope.session))) {
      report.problems.push({ tenant, session: s.session, seq: s.headSeq, kind: 'stray_events' });
    }
    const keys = await withTenant(deps.store.db, tenant, 'reading tenant keys', (tx) => listTenantKeys(tx, tenant));
    const usable = new Set(keys.filter((k) => k.wrappedKey !== null && k.state !== 'destroyed').map((k) => k.version));
    // Every wrap the vault writes is signed: other bytes written over one are not (key-wraps.ts).
    for (const k of keys) {
      if (signs && k.wrappedKey !== null && !storedWrapSigned(tenantKeySubject(k), k.wrappedKey, k, trusted, periods)) {
        report.problems.push({ tenant, session: '(tenant key)', seq: k.version, kind: 'tenant_key_unsigned' });
      }
    }
    const ctx: SessionCheckContext = { deps, trusted, periods, signs, usable, kept, fallback };
    for await (const listed of sessionsOf(deps, tenant, scope.session)) {
      seen.add(`${tenant}/${listed.session}`);
      const checked = await checkSteady(ctx, listed);
      report.sessions++;
      report.events += checked.events;
      report.problems.push(...checked.problems);
      if (checked.purged) purged.push(checked.purged);
      scope.onSession?.(tenant, listed.session);
    }
  }
  for (const w of witnessedSessions) {
    if (seen.has(`${w.tenant}/${w.session}`)) continue;
    const note = await deps.witness!.latest(w.tenant, w.session); // listed from it
    report.problems.push({ ...w, seq: (note && parseCheckpoint(note)?.checkpoint.seq) || 0, kind: 'session_missing' });
  }
  // The operator access trail is one chain across tenants, checked in every scope: what an
  // operator did to a tenant is part of that tenant's record, and a cut or forged record
  // anywhere breaks the chain for all.
  const witnessedTrail = await deps.witness?.latestTrail();
  const witnessedHead = witnessedTrail ? parseTrailHead(witnessedTrail) : null;
  const trail = new AccessChainVerifier(trusted, witnessedHead, periods);
  if (witnessedTrail && !witnessedHead) report.problems.push({ tenant: '*', session: '(access trail)', seq: 0, kind: 'access_witness_mismatch' });
  // The trail's records of holds and purges, to compare the tables with: only those a
  // trusted key signed (the application role can insert records, not sign them), unless
  // the vault signs nothing at all.
  const holdRecords: (AccessRow & { signed: boolean })[] = [];
  const purgeRecords: (AccessRow & { signed: boolean })[] = [];
  const scoped = new Set(tenants);
  const inScope = (t: string | null, s: string | null) => t !== null && scoped.has(t) && (scope.session === undefined || s === scope.session);
  for await (const r of accessTrail(deps)) {
    const signed = trail.push(r);
    const keep = r.action.startsWith('hold.') ? holdRecords : r.action === 'retention.purge' ? purgeRecords : null;
    if (keep && inScope(r.tenant, r.session)) keep.push({ ...r, signed });
  }
  for (const p of trail.finish()) report.problems.push({ tenant: '*', session: '(access trail)', seq: p.seq, kind: p.kind });
  const own = <T extends { signed: boolean }>(rs: T[]) => (signs ? rs.filter((r) => r.signed) : rs);
  report.problems.push(...(await steadyHoldProblems(deps, holds, own(holdRecords), scope.session)), ...checkPurges(purged, own(purgeRecords)));
  report.ok = report.problems.length === 0;
  deps.logger.info({ op: 'verify', sessions: report.sessions, events: report.events, problems: report.problems.length }, 'verified');
  return report;
}

/**
 * The holds against the trail's records of them (audit/hold-check.ts). A hold set while
 * verify ran has its record read (the trail is read last) and its row not (the holds are
 * read first, and the vault stores the row just after the record): `hold_missing`, as
 * for a row deleted. So the holds of a tenant with one are read again, and only a
 * `hold_missing` found again is named: a deleted row does not come back, a setting's
 * does. (A call that stopped between its record and its row is named, as before.)
 */
async function steadyHoldProblems(deps: VaultDeps, holds: readonly HoldHistory[], records: Parameters<typeof checkHolds>[1], session: string | undefined): Promise<HoldProblem[]> {
  const found = checkHolds(holds, records);
  const key = (p: HoldProblem) => `${p.tenant}\u0000${p.session}\u0000${p.seq}`;
  const tenants = [...new Set(found.filter((p) => p.kind === 'hold_missing').map((p) => p.tenant))];
  if (tenants.length === 0) return found;
  const again = holds.filter((h) => !tenants.includes(h.tenant));
  for (const t of tenants) again.push(...(await withTenant(deps.store.db, t, 'reading legal holds', (tx) => readHoldHistory(tx, t, session))));
  const still = new Set(checkHolds(again, records).filter((p) => p.kind === 'hold_missing').map(key));
  return found.filter((p) => p.kind !== 'hold_missing' || still.has(key(p)));
}

/** What a session's check needs of its tenant's, read once for all its sessions. */
interface SessionCheckContext {
  deps: VaultDeps;
  trusted: ReadonlyMap<string, Uint8Array>;
  periods: KeyPeriods;
  signs: boolean;
  /** The tenant's key versions that still wrap a key. */
  usable: ReadonlySet<number>;
  kept: { archived: ReadonlyMap<string, Date[]>; history: Parameters<typeof floorRecorded>[1] };
  fallback: Parameters<typeof floorRecorded>[2];
}

/** One session's check: its problems, the events it checked, its purge (for the trail's records), and the row it checked against. */
interface SessionCheck {
  problems: VerifyProblem[];
  events: number;
  purged: PurgeStamp | null;
  row: SessionRow;
}

/** Times a session is checked again because it moved while it was checked. */
const STEADY_ATTEMPTS = 3;

/**
 * A session's check on a vault in use: agents append to it, a checkpoint run signs it, a
 * retention run archives it while verify reads it. Each check holds the session to its
 * row as read at its start (checkSession); one that finds problems is made again where
 * the row has moved since (another head or status), so that what it names is what the
 * session holds, not a step of a change made meanwhile. A session that keeps moving is
 * reported as its last check found it.
 */
async function checkSteady(ctx: SessionCheckContext, listed: SessionRow): Promise<SessionCheck> {
  let checked = await checkSession(ctx, listed);
  for (let again = 0; again < STEADY_ATTEMPTS && checked.problems.length > 0; again++) {
    const now = await rowNow(ctx.deps, checked.row);
    if (now.status === checked.row.status && now.headSeq === checked.row.headSeq) break;
    checked = await checkSession(ctx, now);
  }
  return checked;
}

/** The session's row read again, after a check: the one given where it is gone. */
async function rowNow(deps: VaultDeps, s: SessionRow): Promise<SessionRow> {
  return (await sessionRow(deps, s.tenant, s.session)) ?? s;
}

/**
 * One session, against its row read at the start: the chain up to that head (events
 * appended since are the next run's), every signed head and snapshot up to it, and the
 * witness's head, read before the row (the witness is moved only after the database's
 * head, so a sound vault's is never past it). A head past the row's head was signed by an
 * append since, or is left from a tail cut since: the row read again tells them apart,
 * and one past the head then is named as before (`checkpoint_beyond_head`).
 */
async function checkSession(ctx: SessionCheckContext, listed: SessionRow): Promise<SessionCheck> {
  const { deps, trusted, periods, signs, usable, kept, fallback } = ctx;
  const tenant = listed.tenant;
  const witnessed = (await deps.witness?.latest(tenant, listed.session)) ?? null;
  const read = await sessionAtOnce(deps, tenant, listed.session);
  const s = read.row ?? listed;
  const problems: VerifyProblem[] = [];
  const problem = (seq: number, kind: VerifyProblem['kind']) => problems.push({ tenant, session: s.session, seq, kind });
  const done = (events: number, purged: PurgeStamp | null = null): SessionCheck => ({ problems, events, purged, row: s });
  const signed = signedHeads(tenant, s.session, read.checkpoints, witnessed, trusted, periods, problem);
  if (signs && s.wrappedDataKey !== null && !storedWrapSigned(sessionSubject(s), s.wrappedDataKey, s, trusted, periods)) problem(s.headSeq, 'session_key_unsigned');
  if (s.status === 'purged') {
    const t = await checkTombstone(deps, s, signed, problem);
    if (!floorRecorded({ ...s, archivedAt: kept.archived.get(s.session), ...(t ? { purgedAt: t.purgedAt } : {}) }, kept.history, fallback)) problem(s.headSeq, 'floor_unrecorded');
    return done(0, t && { tenant, session: s.session, headSeq: t.headSeq, purgedBy: t.purgedBy, purgedAt: t.purgedAt });
  }
  if (!floorRecorded({ ...s, archivedAt: kept.archived.get(s.session) }, kept.history, fallback)) problem(s.headSeq, 'floor_unrecorded');
  // Snapshots are derived and sealed, so verify cannot open them; it checks that each
  // names a head the chain really has (reads would ignore one that does not).
  const snaps = read.snaps;
  const found = [...signed, ...snaps.map((h) => ({ seq: h.seq, hash: h.headHash, source: 'snapshot' as const }))];
  // A head past the row's: an append's since (the row read again has reached it), or a cut tail's (it has not).
  const again = found.some((h) => h.source !== 'witness' && h.seq > s.headSeq) ? await rowNow(deps, s) : s;
  const held = (h: SignedHead) => h.source === 'witness' || h.seq <= s.headSeq || h.seq > again.headSeq;
  const heads = signed.filter(held);
  const headCheck = new HeadCheck(found.filter(held));
  if (signs && snaps.some((h) => h.signed)) await checkSnapshotSignatures(deps, tenant, s.session, trusted, periods, problem);
  const chain = new ChainVerifier(tenant, s.session);
  let last: { seq: number; type: string; at: Date } | null = null;
  try {
    for await (const rows of storedChunks(deps, tenant, s.session, 1, s, s.headSeq)) {
      for (const e of rows) {
        chain.push(e);
        headCheck.push(e);
        last = e;
      }
    }
  } catch (e) {
    // An archived session's object is fetched and checked as it is read.
    if (e instanceof IntegrityError && (e.code === 'ARCHIVE_MISSING' || e.code === 'ARCHIVE_CORRUPT')) {
      problem(s.headSeq, e.code === 'ARCHIVE_MISSING' ? 'archive_missing' : 'archive_corrupt');
      return done(chain.events);
    }
    throw e;
  }
  for (const p of chain.finish({ seq: s.headSeq, hash: s.headHash })) problem(p.seq, p.kind);
  for (const p of headCheck.finish()) problem(p.seq, p.kind);
  // Events past the last signed head: written without the signing key.
  const unsigned = unsignedTail(headCheck.vouching(heads), last?.seq ?? 0, signs);
  if (unsigned !== null) problem(unsigned, 'unsigned_tail');
  // A key may only be gone when the session's own chain says so: shredding closes it
  // with a key_shredded event (purges are checked by their tombstone above).
  const keyGone = s.wrappedDataKey === null || !usable.has(s.tenantKeyVersion);
  if (keyGone && last?.type !== 'key_shredded') problem(s.headSeq, 'key_missing');
  // Retention counts from the session's recorded last-event time: it must be its head's.
  if (last && last.seq === s.headSeq && s.lastAt && s.lastAt.getTime() !== last.at.getTime()) problem(s.headSeq, 'last_at_mismatch');
  return done(chain.events);
}

/**
 * A purged session has no events left to check: its tombstone must exist, agree with the
 * session's head and with every signed head at that seq (none may lie beyond it), and
 * show it was purged no earlier than its retention allowed. Returns the tombstone, for
 * the comparison with the access trail.
 */
async function checkTombstone(deps: VaultDeps, s: SessionRow, heads: SignedHead[], problem: (seq: number, kind: VerifyProblem['kind']) => void): Promise<TombstoneRow | null> {
  const t = await withTenant(deps.store.db, s.tenant, 'reading a tombstone', (tx) => readTombstone(tx, s.tenant, s.session));
  if (!t) {
    problem(s.headSeq, 'tombstone_missing');
    return null;
  }
  const same = (a: Uint8Array | null, b: Uint8Array | null) => (a === null || b === null ? a === b : bytesEqual(a, b));
  if (t.headSeq !== s.headSeq || !same(t.headHash, s.headHash)) {
    problem(s.headSeq, 'tombstone_mismatch');
    return t;
  }
  for (const h of heads) {
    if (h.seq > t.headSeq || (h.seq === t.headSeq && !same(h.hash, t.headHash))) {
      problem(h.seq, 'tombstone_mismatch');
      return t;
    }
  }
  // Due date recomputed from the policy the tombstone names, not only taken from its dueAt,
  // and from the head's signed time should the tombstone's last-event time be earlier.
  const retain = /(?:^| )retain=(\S+)/.exec(t.policy)?.[1];
  const signed = signedHeadTime(heads, t.headSeq, t.headHash);
  const lastAt = signed && t.lastAt && signed.getTime() > t.lastAt.getTime() ? signed : t.lastAt;
  let due: Date | null = null;
  try {
    if (retain && lastAt) due = addDuration(lastAt, parseDuration(retain, 'retain'));
  } catch {
    due = null; // an unreadable policy cannot show the purge was on time
  }
  if (!due || t.purgedAt.getTime() < due.getTime() || t.purgedAt.getTime() < t.dueAt.getTime()) problem(s.headSeq, 'purged_early');
  return t;
}

/**
 * Names each snapshot whose stored signature no trusted key made (snapshot_unsigned): a
 * state sealed by whoever holds the session's data key, or bytes changed after signing;
 * or one a retired key made that the database stored after the key's period (drizzle/0056):
 * signed by whoever holds its leaked secret half.
 * The database stores, in a tenant written by vaults that sign, no snapshot without a
 * signature (drizzle/0053), but cannot check one; those stored unsigned before, by an
 * older version or in an older tenant, carry nothing to check and are not named. A page
 * at a time: a snapshot holds a state.
 */
async function checkSnapshotSignatures(
  deps: VaultDeps,
  tenant: string,
  session: string,
  trusted: ReadonlyMap<string, Uint8Array>,
  periods: KeyPeriods,
  problem: (seq: number, kind: VerifyProblem['kind']) => void,
): Promise<void> {
  for (let after = 0; ; ) {
    const page = await withTenant(deps.store.db, tenant, 'reading snapshots', (tx) => signedSnapshots(tx, tenant, session, after, 16));
    for (const snap of page) {
      if (!snapshotSigned(snap, snap, trusted) || storedAfterPeriod(snap.keyId!, snap.storedAt, periods)) problem(snap.seq, 'snapshot_unsigned');
    }
    if (page.length < 16) return;
    after = page[page.length - 1]!.seq;
  }
}

/** The heads the chain must pass through: its valid checkpoints (as read) and its witnessed head. Pure. */
function signedHeads(
  tenant: string,
  session: string,
  checkpoints: readonly CheckpointRow[],
  witnessed: string | null,
  trusted: ReadonlyMap<string, Uint8Array>,
  periods: KeyPeriods,
  problem: (seq: number, kind: VerifyProblem['kind']) => void,
): SignedHead[] {
  const heads: SignedHead[] = [];
  const accept = (note: string, seq: number, source: SignedHead['source'], storedAt: Date | null) => {
    const v = verifyCheckpoint(note, trusted);
    if (typeof v === 'string') return problem(seq, v);
    if (v.checkpoint.tenant !== tenant || v.checkpoint.session !== session || v.checkpoint.seq !== seq) {
      return problem(seq, source === 'checkpoint' ? 'checkpoint_mismatch' : 'witness_mismatch');
    }
    // A retired signing key signs nothing after its period, nor has it stored then: a leaked
    // old key cannot vouch for new heads (audit/key-period.ts). Dated back into it, before
    // the event it signs, the head check names it as the chain streams past
    // (checkpoint_before_event).
    if (checkpointTimeProblem(v, periods, null, storedAt) === 'outside_key_period') return problem(seq, 'checkpoint_outside_key_period');
    heads.push({ seq, hash: v.checkpoint.hash, source, time: v.checkpoint.time });
  };
  for (const c of checkpoints) accept(c.note, c.seq, 'checkpoint', c.storedAt);
  if (witnessed) accept(witnessed, parseCheckpoint(witnessed)?.checkpoint.seq ?? 0, 'witness', null);
  return heads;
}

/**
 * A session's row, its checkpoints and its snapshots' heads, in one transaction (one
 * round of overhead a session); the row first, so that every head an append wrote up to
 * the row's head is among them.
 */
async function sessionAtOnce(deps: VaultDeps, tenant: string, session: string): Promise<{ row: SessionRow | null; checkpoints: CheckpointRow[]; snaps: { seq: number; headHash: Uint8Array; signed: boolean }[] }> {
  return withTenant(deps.store.db, tenant, 'reading a session to verify', async (tx) => {
    const row = await readSession(tx, tenant, session);
    const checkpoints: CheckpointRow[] = [];
    for (let after = 0; ; ) {
      const page = await readCheckpoints(tx, tenant, session, after, 1000);
      checkpoints.push(...page);
      if (page.length < 1000) break;
      after = page[page.length - 1]!.seq;
    }
    return { row, checkpoints, snaps: await snapshotHeads(tx, tenant, session) };
  });
}

/** A tenant's sessions (or the one named), page by page. UNKNOWN_SESSION for a named one that does not exist. */
export async function* sessionsOf(deps: VaultDeps, tenant: string, only: string | undefined): AsyncGenerator<SessionRow> {
  if (only !== undefined) {
    yield await requireSession(deps, tenant, only);
    return;
  }
  let after: string | null = null;
  for (;;) {
    const page: SessionRow[] = await withTenant(deps.store.db, tenant, 'listing sessions', (tx) => listSessions(tx, tenant, after, 500));
    yield* page;
    if (page.length < 500) return;
    after = page[page.length - 1]!.session;
  }
}
