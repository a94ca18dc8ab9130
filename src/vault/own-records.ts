import { recordSigned } from '../audit';
import { GENESIS_HASH } from '../events';
import type { AccessRow } from '../store';
import type { VaultDeps } from './deps';

/**
 * The vault's own records among `stored` (read with the hash of the record before each):
 * those a trusted key signed. The application role can insert records too, correctly
 * chained, but cannot sign them. A vault that signs nothing has nothing better to go on
 * and takes them all.
 */
export async function ownRecords<T extends AccessRow & { prevHash: Uint8Array | null }>(deps: VaultDeps, stored: readonly T[]): Promise<T[]> {
  if (stored.length === 0 || !(await deps.signer())) return [...stored];
  const trusted = await deps.trustedKeys();
  return stored.filter((r) => recordSigned(r.seq === 1 ? GENESIS_HASH : (r.prevHash ?? GENESIS_HASH), r, trusted));
}
