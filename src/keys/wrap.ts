import { KeyError } from '../errors';
import { AEAD_NONCE_BYTES, SecretBytes, exposeSecretBytes, frame, open, seal, str, u32 } from '../crypto';

/**
 * Key wrapping with XChaCha20-Poly1305 (crypto/aead.ts). A wrapped key is stored as
 * nonce (24 bytes) ‖ ciphertext (32-byte key + 16-byte tag). The associated data names
 * exactly which key this is, so a wrapped key copied to another tenant, session or
 * version fails to unwrap.
 */
export const TENANT_KEY_TAG = 'session-vault/tenant-key/v1';
export const DATA_KEY_TAG = 'session-vault/session-key/v1';

export function tenantKeyAad(tenant: string, version: number, masterKeyId: string): Uint8Array {
  return frame([str(TENANT_KEY_TAG), str(tenant), u32(version), str(masterKeyId)]);
}

export function dataKeyAad(tenant: string, session: string, dataKeyVersion: number, tenantKeyVersion: number): Uint8Array {
  return frame([str(DATA_KEY_TAG), str(tenant), str(session), u32(dataKeyVersion), u32(tenantKeyVersion)]);
}

/** Wraps `key` under `wrappingKey`, bound to `ad`. */
export function wrapKey(wrappingKey: SecretBytes, key: SecretBytes, ad: Uint8Array): Uint8Array {
  const sealed = seal(wrappingKey, exposeSecretBytes(key), ad);
  return Buffer.concat([sealed.nonce, sealed.ciphertext]);
}

/** Unwraps a key; throws KeyError(DECRYPTION_FAILED) on any mismatch. */
export function unwrapKey(wrappingKey: SecretBytes, wrapped: Uint8Array, ad: Uint8Array): SecretBytes {
  if (wrapped.length <= AEAD_NONCE_BYTES) throw new KeyError('DECRYPTION_FAILED', 'decryption failed');
  const plain = open(wrappingKey, { nonce: wrapped.subarray(0, AEAD_NONCE_BYTES), ciphertext: wrapped.subarray(AEAD_NONCE_BYTES) }, ad);
  return SecretBytes.secure(plain);
}
