import { InputError } from '../errors';
import { holdsLiftedOutside, recordSigned } from '../audit';
import { GENESIS_HASH } from '../events';
import { readHoldHistory, readHoldRecords, type TenantTx } from '../store';
import type { VaultDeps } from './deps';

/**
 * Refuses (LEGAL_HOLD) when the latest hold of the session, or of any session of the
 * tenant, was lifted outside the vault: cleared with no signed `hold.clear` record
 * (audit/hold-check.ts). The database cannot refuse the application role clearing a
 * hold, since that role is the vault's; the vault itself then refuses to destroy what the
 * hold kept, so stolen database credentials cannot have the operator's own purge or shred
 * do it. Once resolved, an operator lifts it by setting and clearing a hold through the
 * vault (the session's latest hold is then recorded). In the caller's transaction, after
 * its lock.
 */
export async function requireHoldsRecorded(deps: VaultDeps, tx: TenantTx, tenant: string, session?: string): Promise<void> {
  const stored = await readHoldRecords(tx, tenant, session);
  if (stored.length === 0) return; // no hold was ever set through the vault; one set outside it and still in force is refused as held
  // Only the vault's own records count: the application role can insert records too, but
  // cannot sign them. A vault that signs nothing has nothing better to go on.
  const trusted = (await deps.signer()) ? await deps.trustedKeys() : null;
  const records = trusted ? stored.filter((r) => recordSigned(r.seq === 1 ? GENESIS_HASH : (r.prevHash ?? GENESIS_HASH), r, trusted)) : stored;
  const names = holdsLiftedOutside(await readHoldHistory(tx, tenant, session), records);
  if (names.length === 0) return;
  throw new InputError(
    'LEGAL_HOLD',
    `${names.length} session(s) had their legal hold lifted outside the vault (${names.slice(0, 5).join(', ')}): with no signed record of its clearing they stay held; run verify, and once resolved, set and clear a hold through the vault`,
  );
}
