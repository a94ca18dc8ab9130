import { checkPurges } from '../audit';
import { readPurgeRecords, type TombstoneRow, type TenantTx } from '../store';
import type { VaultDeps } from './deps';
import { ownRecords } from './own-records';

/**
 * Whether a purged session's tombstone is of a purge the vault recorded: a signed
 * `retention.purge` record of the session by the actor the tombstone names, written
 * before it (audit/purge-check.ts, as verify checks it). The retention role can write a
 * tombstone and destroy the session's key itself, past the floor; its archive objects are
 * then all that a key restored from a backup would open, so the vault does not delete
 * them on such a purge's behalf (retention-run.ts). In the caller's transaction.
 */
export async function purgeRecorded(deps: VaultDeps, tx: TenantTx, t: TombstoneRow): Promise<boolean> {
  const records = await ownRecords(deps, tx, await readPurgeRecords(tx, t.tenant, t.session));
  return checkPurges([t], records).length === 0;
}
