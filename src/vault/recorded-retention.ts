import { atLeast, policyRecords, promisedRetain, recordedRetain, type Duration, type PolicyRecord, type RetentionPolicy, withFloor } from '../retention';
import { readPolicyRecords, type SessionRow, type TenantTx } from '../store';
import type { VaultDeps } from './deps';
import { ownRecords } from './own-records';

/** A tenant's policy changes as its signed access trail records them (retention/recorded-policy.ts). In the caller's transaction. */
export async function recordedPolicies(deps: VaultDeps, tx: TenantTx, tenant: string): Promise<PolicyRecord[]> {
  return policyRecords(await ownRecords(deps, await readPolicyRecords(tx, tenant)));
}

/**
 * `policy` (the tenant's, with the session's floor applied) lengthened, if need be, to
 * what the signed trail promises the session: the policy it records as in force now, and
 * what the session was promised when it was created. The application role can shorten the
 * policy row and, in governance mode, lower floors; this is what keeps the vault's own
 * purge (and shred's erasure check) from acting on such a change. Pure.
 */
export function trailRetention(policy: RetentionPolicy, history: readonly PolicyRecord[], row: Pick<SessionRow, 'createdAt'>, fallback: Duration): RetentionPolicy {
  const now = recordedRetain(history, fallback);
  const promised = promisedRetain(history, row.createdAt, fallback);
  const longer = now && promised ? (atLeast(now, promised) ? now : promised) : (now ?? promised);
  return withFloor(policy, longer);
}
