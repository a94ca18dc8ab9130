import { existsSync } from 'node:fs';
import { InputError } from '../errors';
import { readKeyringDocument } from '../keys';
import type { VaultDeps } from './deps';

/** A signing key id as `signingKeyId` makes it. */
export const SIGNING_KEY_ID = /^ed25519:[0-9a-f]{16}$/;

/**
 * Retires a signing key the keyring does not hold (one from `VAULT_SIGNING_KEY` or a
 * PKCS#11 token that the vault no longer signs with) at `at`: the witness states it beside
 * the key (a retirement only ever moves earlier), and from then on, with the 5 minutes'
 * grace, nothing the key signs counts: not in this vault's reads and appends (the witness's
 * periods are read again within a minute), not in `verify`, not for an auditor who pins the
 * witness's keys. Before this, such a key stayed trusted with no end once rotated away, and
 * its leaked secret half signed heads, records and snapshots that counted as the vault's.
 * Returns the retirement in force.
 */
export async function retireSigningKey(deps: VaultDeps, keyId: string, at: Date): Promise<Date> {
  if (!deps.witness) throw new InputError('INVALID_CONFIG', 'the vault has no witness: a signing key is retired by stating it there, beside the key');
  const signer = await deps.signer();
  if (signer?.id === keyId) throw new InputError('INVALID_INPUT', `${keyId} is the key this vault signs with: sign with another first`);
  if (existsSync(deps.keyringPath) && (await readKeyringDocument(deps.keyringPath)).signingKeys.some((k) => k.id === keyId)) {
    throw new InputError('INVALID_INPUT', `${keyId} is the keyring's: \`keys rotate-signing\` retires it`);
  }
  const retiredAt = await deps.witness.retireKey(keyId, at);
  if (!retiredAt) throw new InputError('INVALID_INPUT', `the witness keeps no signing key ${keyId}`);
  deps.logger.info({ op: 'keys.retire-signing', keyId, retiredAt: retiredAt.toISOString() }, 'signing key retired');
  return retiredAt;
}
