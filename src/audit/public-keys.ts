import { z } from 'zod';
import { signingKeyId } from '../crypto';
import { InputError } from '../errors';

/**
 * The public signing keys document, `{"keys":[{"id","publicKey"}]}` (base64 keys): the
 * witness's `public-keys.json`, and what an auditor is handed out of band to pin the
 * vault's keys whole (`verify-bundle --trusted-keys FILE`).
 */
export const publicKeysDocument = z.strictObject({ keys: z.array(z.strictObject({ id: z.string().min(1), publicKey: z.string().min(1) })) });

/**
 * An auditor's trusted keys from such a document: every key 32 bytes, under the id that
 * is its own fingerprint (`signingKeyId`), at least one. Anything else is INVALID_INPUT
 * naming `where` and the entry, never trusted in part. Pure.
 */
export function parseTrustedKeys(text: string, where: string): Map<string, Uint8Array> {
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
  return keys;
}
