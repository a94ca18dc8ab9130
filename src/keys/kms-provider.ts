import type { KMSClient, KMSClientConfig } from '@aws-sdk/client-kms';
import { KeyError } from '../errors';
import { SecretBytes, exposeSecretBytes } from '../crypto';
import { loadOptional } from '../optional';
import type { KeyProvider, TenantKeyRef } from './provider';

type Sdk = typeof import('@aws-sdk/client-kms');

/**
 * Settings for the KMS client: any `KMSClientConfig` field of `@aws-sdk/client-kms`
 * (region, endpoint, credentials, ...). Typed here so the package's types need no SDK.
 */
export interface KmsSettings {
  region?: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  [setting: string]: unknown;
}

export interface KmsKeyProviderOptions {
  /** The KMS key (id, ARN or alias) that wraps tenant keys: a symmetric key, never leaving KMS. */
  keyId: string;
  client?: KmsSettings;
}

/**
 * Tenant keys wrapped by AWS KMS (or a KMS-compatible service): the master key never
 * leaves KMS. A new tenant key comes from GenerateDataKey (KMS returns it and its wrapped
 * form); an existing one (rotation between providers) is wrapped with Encrypt. Every call
 * carries an encryption context binding the tenant and key version (and that this is a
 * session-vault tenant key), which KMS authenticates and CloudTrail logs: a wrapped key
 * moved to another tenant or version fails Decrypt. The master key id stored beside each
 * wrapped key is `kms:<keyId>`.
 */
export class KmsKeyProvider implements KeyProvider {
  readonly masterKeyId: string;
  #sdk: Promise<{ sdk: Sdk; client: KMSClient }> | undefined;

  constructor(private readonly options: KmsKeyProviderOptions) {
    if (typeof options?.keyId !== 'string' || !/^[A-Za-z0-9:/_.-]{1,2048}$/.test(options.keyId)) {
      throw new KeyError('KEYRING_INVALID', 'a KMS key provider needs keyId: a key id, ARN or alias');
    }
    this.masterKeyId = `kms:${options.keyId}`;
  }

  async generateTenantKey(ref: TenantKeyRef): Promise<{ key: SecretBytes; masterKeyId: string; wrapped: Uint8Array }> {
    const { sdk, client } = await this.client();
    const out = await this.call('generating a tenant key', () =>
      client.send(new sdk.GenerateDataKeyCommand({ KeyId: this.options.keyId, KeySpec: 'AES_256', EncryptionContext: context(ref) })),
    );
    if (!out.Plaintext || out.Plaintext.length !== 32 || !out.CiphertextBlob) throw new KeyError('KEY_UNAVAILABLE', 'KMS returned no 32-byte data key');
    const key = SecretBytes.secure(new Uint8Array(out.Plaintext));
    out.Plaintext.fill(0);
    return { key, masterKeyId: this.masterKeyId, wrapped: new Uint8Array(out.CiphertextBlob) };
  }

  async wrapTenantKey(ref: TenantKeyRef, key: SecretBytes): Promise<{ masterKeyId: string; wrapped: Uint8Array }> {
    const { sdk, client } = await this.client();
    const plaintext = Buffer.from(exposeSecretBytes(key));
    try {
      const out = await this.call('wrapping a tenant key', () =>
        client.send(new sdk.EncryptCommand({ KeyId: this.options.keyId, Plaintext: plaintext, EncryptionContext: context(ref) })),
      );
      if (!out.CiphertextBlob) throw new KeyError('KEY_UNAVAILABLE', 'KMS returned no ciphertext');
      return { masterKeyId: this.masterKeyId, wrapped: new Uint8Array(out.CiphertextBlob) };
    } finally {
      plaintext.fill(0);
    }
  }

  async unwrapTenantKey(ref: TenantKeyRef, masterKeyId: string, wrapped: Uint8Array): Promise<SecretBytes> {
    if (masterKeyId !== this.masterKeyId) {
      throw new KeyError('KEY_NOT_FOUND', `tenant ${ref.tenant} key v${ref.version} is wrapped by ${masterKeyId}, not by ${this.masterKeyId}`);
    }
    const { sdk, client } = await this.client();
    const out = await this.call('unwrapping a tenant key', () =>
      client.send(new sdk.DecryptCommand({ KeyId: this.options.keyId, CiphertextBlob: wrapped, EncryptionContext: context(ref) })),
    );
    if (!out.Plaintext || out.Plaintext.length !== 32) throw new KeyError('DECRYPTION_FAILED', 'decryption failed');
    const key = SecretBytes.secure(new Uint8Array(out.Plaintext));
    out.Plaintext.fill(0);
    return key;
  }

  private client(): Promise<{ sdk: Sdk; client: KMSClient }> {
    this.#sdk ??= loadOptional(() => import('@aws-sdk/client-kms'), '@aws-sdk/client-kms', 'a KMS key provider').then(
      (sdk) => ({ sdk, client: new sdk.KMSClient({ maxAttempts: 3, ...(this.options.client as KMSClientConfig | undefined) }) }),
      (e: unknown) => {
        this.#sdk = undefined;
        throw e;
      },
    );
    return this.#sdk;
  }

  /** KMS failures as key errors naming the KMS error, never a key or a ciphertext. */
  private async call<T>(doing: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const name = String((e as { name?: string }).name ?? 'Error');
      if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') throw new KeyError('DECRYPTION_FAILED', 'decryption failed');
      if (name === 'NotFoundException' || name === 'DisabledException' || name === 'KMSInvalidStateException') {
        throw new KeyError('KEY_NOT_FOUND', `KMS key ${this.options.keyId} cannot be used (${name}) ${doing}`);
      }
      throw new KeyError('KEY_UNAVAILABLE', `KMS ${doing}: ${name}`);
    }
  }
}

/** The encryption context of a tenant key: what KMS binds and CloudTrail shows. */
function context(ref: TenantKeyRef): Record<string, string> {
  return { 'session-vault': 'tenant-key/v1', tenant: ref.tenant, version: String(ref.version) };
}

