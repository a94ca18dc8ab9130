import { KeyError } from '../errors';
import { AEAD_KEY_BYTES, SecretBytes, blake2b256, bytes, exposeSecretBytes, frame, str, toHex } from '../crypto';
import type { KeyProvider, TenantKeyRef } from './provider';
import { tenantKeyAad, unwrapKey, wrapKey } from './wrap';

/**
 * A master key given as a value (the CLI reads VAULT_MASTER_KEY, base64 of 32 bytes), for
 * containers that get secrets from the environment rather than a keyring file. Its
 * master key id is `env:` and a fingerprint of the key (BLAKE2b-256 of a tagged key, 16
 * hex), so a tenant key wrapped by another master is reported as KEY_NOT_FOUND, never
 * as corruption.
 */
export class EnvKeyProvider implements KeyProvider {
  readonly masterKeyId: string;

  private constructor(private readonly key: SecretBytes) {
    this.masterKeyId = `env:${toHex(blake2b256(frame([str('session-vault/master-key-id/v1'), bytes(exposeSecretBytes(key))]))).slice(0, 16)}`;
  }

  /** From base64; KEYRING_INVALID (naming the variable, never the value) unless it is 32 bytes. */
  static fromBase64(value: string, name = 'VAULT_MASTER_KEY'): EnvKeyProvider {
    const raw = /^[A-Za-z0-9+/]+=*$/.test(value) ? Buffer.from(value, 'base64') : Buffer.alloc(0);
    if (raw.length !== AEAD_KEY_BYTES) throw new KeyError('KEYRING_INVALID', `${name} must be base64 of ${AEAD_KEY_BYTES} bytes`);
    const key = SecretBytes.secure(new Uint8Array(raw));
    raw.fill(0);
    return new EnvKeyProvider(key);
  }

  async wrapTenantKey(ref: TenantKeyRef, key: SecretBytes): Promise<{ masterKeyId: string; wrapped: Uint8Array }> {
    return { masterKeyId: this.masterKeyId, wrapped: wrapKey(this.key, key, tenantKeyAad(ref.tenant, ref.version, this.masterKeyId)) };
  }

  async unwrapTenantKey(ref: TenantKeyRef, masterKeyId: string, wrapped: Uint8Array): Promise<SecretBytes> {
    if (masterKeyId !== this.masterKeyId) {
      throw new KeyError('KEY_NOT_FOUND', `tenant ${ref.tenant} key v${ref.version} is wrapped by ${masterKeyId}; the master key given is ${this.masterKeyId}`);
    }
    return unwrapKey(this.key, wrapped, tenantKeyAad(ref.tenant, ref.version, masterKeyId));
  }
}
