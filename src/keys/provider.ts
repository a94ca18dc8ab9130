import { SecretBytes, generateKey } from '../crypto';

/** Which tenant key is being wrapped or unwrapped. */
export interface TenantKeyRef {
  tenant: string;
  version: number;
}

/**
 * Wraps and unwraps tenant keys under a master key. The keyring file implements it
 * (LocalKeyProvider); a KMS or HSM (AWS KMS Encrypt/Decrypt, HashiCorp Vault Transit)
 * can too: wrap returns an opaque blob and the id of the key that made it, unwrap gets
 * both back. The tenant and version must be bound to the blob (as associated data or
 * encryption context) so a wrapped key cannot be moved to another tenant or version.
 * Failures must be KeyError (KEY_NOT_FOUND, DECRYPTION_FAILED) and carry no key material.
 */
export interface KeyProvider {
  wrapTenantKey(ref: TenantKeyRef, key: SecretBytes): Promise<{ masterKeyId: string; wrapped: Uint8Array }>;
  unwrapTenantKey(ref: TenantKeyRef, masterKeyId: string, wrapped: Uint8Array): Promise<SecretBytes>;
  /**
   * Optional: makes a new tenant key and its wrapped form in one call (KMS GenerateDataKey).
   * Without it, the vault draws the key from libsodium's CSPRNG and wraps it.
   */
  generateTenantKey?(ref: TenantKeyRef): Promise<{ key: SecretBytes; masterKeyId: string; wrapped: Uint8Array }>;
  /** Optional: the master key id new wraps get, so `keys rotate-master --to` knows what is already moved. */
  readonly masterKeyId?: string;
}

/** A new tenant key, by the provider's own generator when it has one. The caller disposes `key`. */
export async function newTenantKey(provider: KeyProvider, ref: TenantKeyRef): Promise<{ key: SecretBytes; masterKeyId: string; wrapped: Uint8Array }> {
  if (provider.generateTenantKey) return provider.generateTenantKey(ref);
  const key = generateKey();
  try {
    return { key, ...(await provider.wrapTenantKey(ref, key)) };
  } catch (e) {
    key.dispose();
    throw e;
  }
}
