import { randomUUID } from 'node:crypto';
import { InputError, StorageError } from '../errors';
import { signCheckpoint, type CheckpointSigner } from '../audit';
import { toHex } from '../crypto';
import { isoTime } from '../domain';
import { GENESIS_HASH, shredMarker } from '../events';
import { appendEventsInTransaction, clearHoldRow, deleteSnapshots, destroyAllTenantKeys, holdRole, insertHold, listArchives, listSessions, listTenants, readHolds, readSession, shredSessionKeys, withTenant, type HoldRow, type SessionRow, type TenantTx } from '../store';
import { sessionRow } from './session-row';
import type { VaultDeps } from './deps';
import { floorOf, restoreSession } from './archive';
import { requireHoldsRecorded } from './lifted-holds';
import { checkpointedHead, signableHead } from './signed-head';
import { keptBy, signedLastAt, trailRetention, type KeptBy } from './recorded-retention';
import { purgeDue, withFloor } from '../retention';

/**
 * Legal holds and crypto-shredding. Shredding erases content from an append-only log by
 * destroying the keys that seal it: the ciphertext stays (so every chain still verifies)
 * but can never be opened again. A session under legal hold is never shredded.
 */

/**
 * Places a hold, as the legal role (holdRole). The session row is locked first, so a hold and a concurrent shred or
 * purge of the same session are ordered: whichever comes second sees the other.
 * UNKNOWN_SESSION, or SESSION_STATE for a purged session (nothing is left to hold).
 */
export async function setHold(deps: VaultDeps, tenant: string, session: string, setBy: string, reason: string): Promise<boolean> {
  return withTenant(
    deps.store.db,
    tenant,
    'setting a legal hold',
    async (tx) => {
      const row = await readSession(tx, tenant, session, true);
      if (!row) throw new InputError('UNKNOWN_SESSION', `unknown session ${tenant}/${session}`);
      if (row.status === 'purged') throw new InputError('SESSION_STATE', `session ${tenant}/${session} is purged; there is nothing left to hold`);
      return insertHold(tx, { tenant, session, reason, setBy, setAt: deps.clock() });
    },
    holdRole(deps.store.layout),
  );
}

/**
 * Lifts the hold in force, stamping who, when and why on it (the row is kept). As the
 * legal role (holdRole), as a hold is placed: an operator's login that may not act as it
 * is refused by the database (drizzle/0042_legal_role.sql), so that lifting a hold and
 * destroying what it held take two roles.
 */
export async function clearHold(deps: VaultDeps, tenant: string, session: string, by: string, reason: string): Promise<boolean> {
  return withTenant(
    deps.store.db,
    tenant,
    'clearing a legal hold',
    async (tx) => {
      await readSession(tx, tenant, session, true);
      return clearHoldRow(tx, tenant, session, { by, reason, at: deps.clock() });
    },
    holdRole(deps.store.layout),
  );
}

/** Holds in force, for one tenant or all. */
export async function listHolds(deps: VaultDeps, tenant?: string): Promise<HoldRow[]> {
  const tenants = tenant !== undefined ? [tenant] : (await listTenants(deps.store.db)).map((t) => t.tenant);
  const out: HoldRow[] = [];
  for (const t of tenants) out.push(...(await withTenant(deps.store.db, t, 'listing legal holds', (tx) => readHolds(tx, t))));
  return out;
}

/**
 * Destroys the data key of one session, or — without `session` — every session key and
 * every key version of the tenant. Each shredded session's chain is first closed with a
 * `key_shredded` event (who and why, in clear, signed in a checkpoint where the head it
 * closes is signed), so the session's own log records its erasure. Refused (LEGAL_HOLD,
 * nothing changed) while a hold applies to the session, or to any session of the tenant.
 * All in one transaction.
 */
export async function shred(
  deps: VaultDeps,
  tenant: string,
  session: string | undefined,
  who: { actor: string; reason: string | null },
): Promise<{ sessions: number; tenantKeysDestroyed: boolean }> {
  const signer = await deps.signer();
  // The keys a head may be signed by, for the markers: read now, not inside the
  // transaction (the witness's may be an S3 request away).
  const trusted = signer ? new Map([...(await deps.trustedKeys()), [signer.id, signer.publicKey]]) : null;
  // What the shred would refuse is refused before an archived session is brought back.
  await withTenant(deps.store.db, tenant, 'checking a shred', async (tx) => {
    await requireUnheld(deps, tx, tenant, session);
    if (who.reason) return;
    const kept = await keptBy(deps, tx, tenant);
    for await (const row of shreddable(tx, tenant, session)) await requireErasureBasis(deps, tx, row, kept);
  });
  await restoreArchived(deps, tenant, session);
  const signable = signer ? await signableHeads(deps, signer, tenant, session) : new Set<string>();
  const result = await withTenant(deps.store.db, tenant, 'shredding keys', async (tx) => {
    // Lock first, then look for holds: a hold set concurrently is either seen here or waits.
    const named = session !== undefined ? await readSession(tx, tenant, session, true) : null;
    await requireUnheld(deps, tx, tenant, session);
    const targets: string[] = [];
    if (session !== undefined) {
      if (!named) throw new InputError('UNKNOWN_SESSION', `unknown session ${tenant}/${session}`);
      targets.push(session);
    } else {
      for (let after: string | null = null; ; ) {
        const page: SessionRow[] = await listSessions(tx, tenant, after, 500);
        targets.push(...page.filter((s) => s.wrappedDataKey !== null).map((s) => s.session));
        if (page.length < 500) break;
        after = page[page.length - 1]!.session;
      }
    }
    const kept = await keptBy(deps, tx, tenant);
    let shredded = 0;
    for (const target of targets) {
      const row = (await readSession(tx, tenant, target, true))!; // locked: no append can slip in between
      if (!row.wrappedDataKey || row.status === 'purged') continue; // already shredded
      const now = deps.clock();
      if (!who.reason) await requireErasureBasis(deps, tx, row, kept);
      const marker = shredMarker({
        tenant,
        session: target,
        seq: row.headSeq + 1,
        at: row.lastAt && row.lastAt.getTime() > now.getTime() ? row.lastAt : now,
        correlationId: `shred-${randomUUID()}`,
        prevHash: row.headHash ?? GENESIS_HASH,
        actor: who.actor,
        reason: who.reason,
      });
      // The marker is signed only onto a head a trusted key signed: signing it onto events
      // written outside the vault would hide them from verify (vault/signed-head.ts). The
      // erasure goes on either way; verify goes on naming them (unsigned_tail).
      const signs = signer && trusted && (signable.has(headOf(target, row)) || (await checkpointedHead(tx, trusted, await deps.keyPeriods(), tenant, target, row)) === 'signed') ? signer : null;
      if (signer && !signs) deps.logger.warn({ op: 'keys.shred', tenant, session: target, seq: row.headSeq }, 'the head is not signed: the shred marker is left unsigned');
      const checkpoint = signs
        ? { keyId: signs.id, note: signCheckpoint({ tenant, session: target, seq: marker.seq, hash: marker.hash, time: marker.at }, signs) }
        : null;
      if (!(await appendEventsInTransaction(tx, tenant, target, row.headSeq, [marker], checkpoint))) {
        throw new StorageError('STORAGE_REFUSED', `session ${tenant}/${target} is ${row.status}; it cannot be shredded now`);
      }
      shredded += await shredSessionKeys(tx, tenant, target);
      await deleteSnapshots(tx, tenant, target); // derived from the content: gone with its key
    }
    if (session === undefined) await destroyAllTenantKeys(tx, tenant);
    return { sessions: shredded, tenantKeysDestroyed: session === undefined };
  });
  // This process forgets the keys at once; other processes fail on their next unwrap.
  if (session !== undefined) deps.cache.delete(tenant, session);
  else {
    deps.cache.clear();
    deps.keys.forgetTenant(tenant);
  }
  deps.logger.info({ op: 'keys.shred', tenant, session, sessions: result.sessions }, 'keys shredded');
  return result;
}

/** A session at its head, as the adoption check saw it and the shred finds it. */
const headOf = (session: string, row: { headSeq: number; headHash: Uint8Array | null }) => `${session}\u0000${row.headSeq}\u0000${row.headHash ? toHex(row.headHash) : ''}`;

/**
 * The heads in scope that the shred's markers may be signed onto (vault/signed-head.ts):
 * signed by a trusted key, or, for a session with no checkpoint at all (written with
 * signing off), adoptable because every event up to the head opens under its key. Checked
 * before the shred destroys the keys that could show it, and outside its transaction, as
 * the check reads whole sessions; the shred signs a marker only onto a head seen here and
 * still signed, or still the one seen, under its lock. A check that cannot unwrap the
 * keys leaves the marker unsigned and says so in the log; the erasure goes on.
 */
async function signableHeads(deps: VaultDeps, signer: CheckpointSigner, tenant: string, session: string | undefined): Promise<Set<string>> {
  const rows = await withTenant(deps.store.db, tenant, 'listing what a shred erases', async (tx) => {
    const found: SessionRow[] = [];
    for await (const r of shreddable(tx, tenant, session)) found.push(r);
    return found;
  });
  const heads = new Set<string>();
  for (const row of rows) if (await signableHead(deps, signer, tenant, row.session, row, 'keys.shred')) heads.add(headOf(row.session, row));
  return heads;
}

/** LEGAL_HOLD while a hold is in force on the session (or any of the tenant's), or its latest was lifted outside the vault. */
async function requireUnheld(deps: VaultDeps, tx: TenantTx, tenant: string, session: string | undefined): Promise<void> {
  const holds = await readHolds(tx, tenant, session);
  if (holds.length > 0) {
    throw new InputError('LEGAL_HOLD', `${holds.length} session(s) under legal hold (${holds.map((h) => h.session).slice(0, 5).join(', ')}); clear the hold first`);
  }
  await requireHoldsRecorded(deps, tx, tenant, session);
}

/**
 * Before its retention has passed, destroying a session's key is erasure (GDPR art. 17):
 * allowed, but only with its legal basis, which the marker and the trail record
 * (REASON_REQUIRED without). Kept until what the signed trail promised it too (archiving
 * raised it), should its floor have been lowered outside the vault; counted from its
 * head's signed time, should its last-event time have been moved back (as a purge counts:
 * signedLastAt).
 */
async function requireErasureBasis(deps: VaultDeps, tx: TenantTx, row: SessionRow, kept: KeptBy): Promise<void> {
  const from = await signedLastAt(deps, tx, row);
  const archivedAt = (await listArchives(tx, row.tenant, row.session)).map((a) => a.archivedAt);
  const keptUntil = from ? purgeDue(from, trailRetention(withFloor(kept.policy, floorOf(row)), kept.history, { ...row, archivedAt }, deps.defaultRetention.retain)) : null;
  if (keptUntil && !(keptUntil.getTime() <= deps.clock().getTime())) {
    throw new InputError('REASON_REQUIRED', `session ${row.tenant}/${row.session} is kept until ${isoTime(keptUntil)}: shredding it now is erasure; give its legal basis with --reason`);
  }
}

/** The sessions a shred would destroy keys of: the one named, or every one of the tenant with a key. */
async function* shreddable(tx: TenantTx, tenant: string, session: string | undefined): AsyncGenerator<SessionRow> {
  if (session !== undefined) {
    const row = await readSession(tx, tenant, session);
    if (row?.wrappedDataKey && row.status !== 'purged') yield row;
    return;
  }
  for (let after: string | null = null; ; ) {
    const page: SessionRow[] = await listSessions(tx, tenant, after, 500);
    yield* page.filter((s) => s.wrappedDataKey !== null && s.status !== 'purged');
    if (page.length < 500) return;
    after = page[page.length - 1]!.session;
  }
}

/**
 * Archived sessions in scope are brought back to hot storage first, so each chain can
 * record its own erasure (a `key_shredded` event). Called once the shred's refusals have
 * been checked, so that a refused shred leaves them archived.
 */
async function restoreArchived(deps: VaultDeps, tenant: string, session: string | undefined): Promise<void> {
  for (let after: string | null = null; ; ) {
    const page: SessionRow[] =
      session !== undefined
        ? [await sessionRow(deps, tenant, session)].filter((r): r is SessionRow => r !== null)
        : await withTenant(deps.store.db, tenant, 'listing sessions', (tx) => listSessions(tx, tenant, after, 500));
    for (const s of page) if (s.status === 'archived') await restoreSession(deps, tenant, s.session);
    if (session !== undefined || page.length < 500) return;
    after = page[page.length - 1]!.session;
  }
}
