import { recordSigned } from '../audit';
import { GENESIS_HASH } from '../events';
import type { AccessRow } from '../store';
import type { VaultDeps } from './deps';

/**
 * The vault's own records among `stored` (read with the hash of the record before each):
 * those a trusted key signed. The application role can insert records too, correctly
 * chained, but cannot sign them. A vault that signs nothing has nothing better to go on
 * and takes them all: whether it signs is `signs` when given (verify, which needs no
 * keyring, goes by whether the trail holds any signed record), else whether this vault
 * has a signer.
 */
export async function ownRecords<T extends AccessRow & { prevHash: Uint8Array | null }>(deps: VaultDeps, stored: readonly T[], signs?: boolean): Promise<T[]> {
  if (stored.length === 0 || !(signs ?? (await deps.signer()) !== null)) return [...stored];
  const trusted = await deps.trustedKeys();
  return stored.filter((r) => recordSigned(r.seq === 1 ? GENESIS_HASH : (r.prevHash ?? GENESIS_HASH), r, trusted));
}
