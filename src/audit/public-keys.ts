import { z } from 'zod';
import { signingKeyId } from '../crypto';
import { InputError } from '../errors';
import type { KeyPeriods } from './key-period';

/**
 * The public signing keys document, `{"keys":[{"id","publicKey","createdAt"?,"retiredAt"?}]}`
 * (base64 keys, ISO times from the keyring): the witness's `public-keys.json`, and what an
 * auditor is handed out of band to pin the vault's keys whole (`verify-bundle
 * --trusted-keys FILE`). Files written before the times were kept lack them.
 */
export const publicKeysDocument = z.strictObject({
  keys: z.array(
    z.strictObject({
      id: z.string().min(1),
      publicKey: z.string().min(1),
      createdAt: z.iso.datetime().optional(),
      retiredAt: z.iso.datetime().optional(),
    }),
  ),
});
export type PublicKeyEntry = z.infer<typeof publicKeysDocument>['keys'][number];

/**
 * The periods such a document states (pure): a key with a retirement is bounded by it
 * (from its creation, or from the start of time where that is not stated); a key with
 * only its creation is open-ended from it, so that it can be found as a retired key's
 * successor; a key with neither has no period.
 */
export function periodsOf(entries: readonly PublicKeyEntry[]): Map<string, { from: Date; until: Date | null }> {
  const periods = new Map<string, { from: Date; until: Date | null }>();
  for (const k of entries) {
    if (k.createdAt === undefined && k.retiredAt === undefined) continue;
    periods.set(k.id, { from: new Date(k.createdAt ?? 0), until: k.retiredAt === undefined ? null : new Date(k.retiredAt) });
  }
  return periods;
}

/**
 * An auditor's trusted keys from such a document: every key 32 bytes, under the id that
 * is its own fingerprint (`signingKeyId`), at least one, with the periods it states.
 * Anything else is INVALID_INPUT naming `where` and the entry, never trusted in part. Pure.
 */
export function parseTrustedKeys(text: string, where: string): { keys: Map<string, Uint8Array>; periods: KeyPeriods } {
  let parsed;
  try {
    parsed = publicKeysDocument.safeParse(JSON.parse(text));
  } catch {
    parsed = null;
  }
  if (!parsed?.success) throw new InputError('INVALID_INPUT', `${where}: not a public keys document ({"keys":[{"id","publicKey"}]})`);
  if (parsed.data.keys.length === 0) throw new InputError('INVALID_INPUT', `${where}: lists no key`);
  const keys = new Map<string, Uint8Array>();
  parsed.data.keys.forEach((k, i) => {
    const key = Buffer.from(k.publicKey, 'base64');
    if (key.length !== 32 || key.toString('base64') !== k.publicKey) throw new InputError('INVALID_INPUT', `${where}: key ${i + 1} is not a base64 Ed25519 public key`);
    if (signingKeyId(key) !== k.id) throw new InputError('INVALID_INPUT', `${where}: key ${i + 1} is not the key its id (${k.id}) names`);
    keys.set(k.id, new Uint8Array(key));
  });
  return { keys, periods: periodsOf(parsed.data.keys) };
}
