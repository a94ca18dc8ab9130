import { signedHeadTime, verifyCheckpoint, type SignedHead } from '../audit';
import { storedPolicy, policyRecords, promisedRetain, recordedRetain, type Duration, type PolicyRecord, type RetentionPolicy, withFloor } from '../retention';
import { readCheckpoints, readPolicy, readPolicyRecords, type SessionRow, type TenantTx } from '../store';
import type { VaultDeps } from './deps';
import { ownRecords } from './own-records';

/** A tenant's policy changes as its signed access trail records them (retention/recorded-policy.ts; `signs` as ownRecords takes it). In the caller's transaction. */
export async function recordedPolicies(deps: VaultDeps, tx: TenantTx, tenant: string, signs?: boolean): Promise<PolicyRecord[]> {
  return policyRecords(await ownRecords(deps, tx, await readPolicyRecords(tx, tenant), signs));
}

/**
 * `policy` (the tenant's, with the session's floor applied) lengthened, if need be, to
 * what the signed trail promises the session: the policy it records as in force now, and
 * what the session was promised when it was created and raised to when it was archived
 * (`archivedAt`: its archive records' times). The operator role can shorten the policy
 * row and, in governance mode, lower floors; this is what keeps the vault's own purge (and
 * shred's erasure check) from acting on such a change. Pure.
 */
export function trailRetention(policy: RetentionPolicy, history: readonly PolicyRecord[], row: Pick<SessionRow, 'createdAt'> & { archivedAt?: readonly Date[] }, fallback: Duration): RetentionPolicy {
  return withFloor(withFloor(policy, recordedRetain(history, fallback)), promisedRetain(history, row.createdAt, fallback, undefined, row.archivedAt));
}

/** What a tenant's sessions are kept by: its stored policy (the vault's default without one), and the policy changes its signed trail records. */
export interface KeptBy {
  policy: RetentionPolicy;
  history: PolicyRecord[];
}

/** Reads what a tenant's sessions are kept by, in the caller's transaction (purge and shred hold each session to it with trailRetention). */
export async function keptBy(deps: VaultDeps, tx: TenantTx, tenant: string): Promise<KeptBy> {
  const stored = await readPolicy(tx, tenant);
  return { policy: stored ? storedPolicy(tenant, stored) : deps.defaultRetention, history: await recordedPolicies(deps, tx, tenant) };
}

/**
 * The time retention counts from for a session: its recorded last-event time, or the
 * signed time of its head if that is later. No role of the vault can move `last_at`
 * back (drizzle/0037), but a DBA with triggers off can; the head's checkpoint, which only
 * the signing key makes, carries the head event's time. In the caller's transaction.
 */
export async function signedLastAt(deps: VaultDeps, tx: TenantTx, row: Pick<SessionRow, 'tenant' | 'session' | 'headSeq' | 'headHash' | 'lastAt'>): Promise<Date | null> {
  const notes = (await readCheckpoints(tx, row.tenant, row.session, row.headSeq - 1, 16)).filter((c) => c.seq === row.headSeq);
  if (notes.length === 0) return row.lastAt;
  const trusted = await deps.trustedKeys();
  const heads: SignedHead[] = [];
  for (const n of notes) {
    const v = verifyCheckpoint(n.note, trusted);
    if (typeof v !== 'string' && v.checkpoint.tenant === row.tenant && v.checkpoint.session === row.session && v.checkpoint.seq === row.headSeq) {
      heads.push({ seq: v.checkpoint.seq, hash: v.checkpoint.hash, source: 'checkpoint', time: v.checkpoint.time });
    }
  }
  const signed = signedHeadTime(heads, row.headSeq, row.headHash);
  return signed && (!row.lastAt || signed.getTime() > row.lastAt.getTime()) ? signed : row.lastAt;
}
