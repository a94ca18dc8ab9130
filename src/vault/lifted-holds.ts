import { InputError } from '../errors';
import { holdsLiftedOutside } from '../audit';
import { readHoldHistory, readHoldRecords, type TenantTx } from '../store';
import type { VaultDeps } from './deps';
import { ownRecords } from './own-records';

/**
 * Refuses (LEGAL_HOLD) when the latest hold of the session, or of any session of the
 * tenant, was lifted outside the vault: cleared with no signed `hold.clear` record
 * (audit/hold-check.ts). The database cannot refuse the legal role clearing a hold,
 * since that role is the vault's own `hold clear`'s (the operator role it refuses:
 * drizzle/0042_legal_role.sql); the vault itself then refuses to destroy what the hold
 * kept, so stolen legal-desk credentials cannot have the operator's own purge or shred do
 * it. Once resolved, an operator lifts it by setting and clearing a hold through the
 * vault (the session's latest hold is then recorded). In the caller's transaction, after
 * its lock.
 */
export async function requireHoldsRecorded(deps: VaultDeps, tx: TenantTx, tenant: string, session?: string): Promise<void> {
  const stored = await readHoldRecords(tx, tenant, session);
  if (stored.length === 0) return; // no hold was ever set through the vault; one set outside it and still in force is refused as held
  const names = holdsLiftedOutside(await readHoldHistory(tx, tenant, session), await ownRecords(deps, tx, stored));
  if (names.length === 0) return;
  throw new InputError(
    'LEGAL_HOLD',
    `${names.length} session(s) had their legal hold lifted outside the vault (${names.slice(0, 5).join(', ')}): with no signed record of its clearing they stay held; run verify, and once resolved, set and clear a hold through the vault`,
  );
}
