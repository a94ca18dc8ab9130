import { laterKeys, recordInPeriod, recordSigned } from '../audit';
import { GENESIS_HASH } from '../events';
import { firstRecordNaming, type AccessRow, type TenantTx } from '../store';
import type { VaultDeps } from './deps';

/**
 * The vault's own records among `stored` (read with the hash of the record before each):
 * those a trusted key signed, and, for a retired key, signed in its period and before any
 * record named a key that followed it, and stored by the database in its period
 * (audit/key-period.ts, recordInPeriod): whoever holds a retired key's secret half can
 * sign a record and date it as they like, but cannot place it before records already
 * written, nor store it in the past. The application role can insert records too,
 * correctly chained, but cannot sign them. A vault that signs nothing has nothing better
 * to go on and takes them all: whether it signs is `signs` when given (verify, which
 * needs no keyring, goes by whether the trail holds any signed record), else whether this
 * vault has a signer. In the caller's transaction.
 */
export async function ownRecords<T extends AccessRow & { prevHash: Uint8Array | null }>(deps: VaultDeps, tx: TenantTx, stored: readonly T[], signs?: boolean): Promise<T[]> {
  if (stored.length === 0 || !(signs ?? (await deps.signer()) !== null)) return [...stored];
  const trusted = await deps.trustedKeys();
  const periods = await deps.keyPeriods();
  const followedFrom = new Map<string, number | null>(); // retired key id → the seq of the first record naming a key after it
  for (const id of new Set(stored.map((r) => r.keyId).filter((k): k is string => k !== null && !!periods.get(k)?.until))) {
    followedFrom.set(id, await firstRecordNaming(tx, laterKeys(id, periods)));
  }
  return stored.filter((r) => {
    if (!recordSigned(r.seq === 1 ? GENESIS_HASH : (r.prevHash ?? GENESIS_HASH), r, trusted)) return false;
    const from = followedFrom.get(r.keyId!) ?? null;
    return recordInPeriod(r.keyId!, r.at, periods, from !== null && from < r.seq, r.storedAt);
  });
}
