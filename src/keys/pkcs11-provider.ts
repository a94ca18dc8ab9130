import { randomBytes } from 'node:crypto';
import type * as Pkcs11js from 'pkcs11js';
import { KeyError } from '../errors';
import { SecretBytes, exposeSecretBytes } from '../crypto';
import type { KeyProvider, TenantKeyRef } from './provider';
import { asKeyError, endSession, findObject, isTrue, keepSession, withSession, type Lib, type TokenLogin } from './pkcs11-token';
import { tenantKeyAad } from './wrap';

export interface Pkcs11KeyProviderOptions extends TokenLogin {
  /** The label of the master key object: AES-256, sensitive, never extractable. */
  keyLabel: string;
}

/** Format byte of a wrapped key: 1 = AES-256-GCM in the token, 12-byte IV, 16-byte tag. */
const FORMAT_GCM = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Tenant keys wrapped inside a PKCS#11 token (an HSM, or SoftHSM2 in tests): the master
 * key is an AES-256 secret key object created in the token as sensitive and
 * non-extractable, so it never leaves it; the vault sends a tenant key in and gets its
 * wrapped form back, and the reverse. The mechanism is AES-GCM (CKM_AES_GCM) with the
 * tenant, key version and master key id as additional authenticated data, so a wrapped
 * key moved to another tenant or version does not unwrap. (AES key wrap, CKM_AES_KEY_WRAP,
 * takes no associated data and would need the tenant key as a token object.) The master
 * key id stored beside each wrapped key is `pkcs11:<token>/<key label>`.
 */
export class Pkcs11KeyProvider implements KeyProvider {
  readonly masterKeyId: string;
  #closed = false;

  private constructor(
    private readonly lib: Lib,
    private readonly pkcs11: Pkcs11js.PKCS11,
    private readonly modulePath: string,
    private readonly session: Pkcs11js.Handle,
    private readonly key: Pkcs11js.Handle,
    token: string,
    keyLabel: string,
  ) {
    this.masterKeyId = `pkcs11:${token}/${keyLabel}`;
  }

  /**
   * Opens the token, logs in, and finds the master key. KEY_NOT_FOUND for an unknown token
   * or key; KEYRING_INSECURE for a master key the token would let out (extractable or not
   * sensitive); KEY_UNAVAILABLE when the library or token cannot be used. Never the PIN.
   */
  static async open(options: Pkcs11KeyProviderOptions): Promise<Pkcs11KeyProvider> {
    return keepSession(options, 'opening the token', (t) => {
      const key = findObject(t, t.lib.CKO_SECRET_KEY, options.keyLabel);
      if (!key) throw new KeyError('KEY_NOT_FOUND', `no master key labelled ${options.keyLabel} in token ${options.token}`);
      const [extractable, sensitive] = t.pkcs11.C_GetAttributeValue(t.session, key, [{ type: t.lib.CKA_EXTRACTABLE }, { type: t.lib.CKA_SENSITIVE }]);
      if (isTrue(extractable?.value) || !isTrue(sensitive?.value)) {
        throw new KeyError('KEYRING_INSECURE', `master key ${options.keyLabel} in token ${options.token} is extractable or not sensitive: create it with Pkcs11KeyProvider.createMasterKey`);
      }
      return new Pkcs11KeyProvider(t.lib, t.pkcs11, options.module, t.session, key, options.token, options.keyLabel);
    });
  }

  /**
   * Creates the master key in the token (CKM_AES_KEY_GEN, 256 bits, token object,
   * private, sensitive, not extractable, encrypt/decrypt only). Returns false, creating
   * nothing, when a key with that label already exists.
   */
  static async createMasterKey(options: Pkcs11KeyProviderOptions): Promise<boolean> {
    return withSession(options, 'creating the master key', (t) => {
      if (findObject(t, t.lib.CKO_SECRET_KEY, options.keyLabel)) return false;
      const { lib, pkcs11, session } = t;
      pkcs11.C_GenerateKey(session, { mechanism: lib.CKM_AES_KEY_GEN }, [
        { type: lib.CKA_CLASS, value: lib.CKO_SECRET_KEY },
        { type: lib.CKA_KEY_TYPE, value: lib.CKK_AES },
        { type: lib.CKA_VALUE_LEN, value: 32 },
        { type: lib.CKA_LABEL, value: options.keyLabel },
        { type: lib.CKA_TOKEN, value: true },
        { type: lib.CKA_PRIVATE, value: true },
        { type: lib.CKA_SENSITIVE, value: true },
        { type: lib.CKA_EXTRACTABLE, value: false },
        { type: lib.CKA_ENCRYPT, value: true },
        { type: lib.CKA_DECRYPT, value: true },
        { type: lib.CKA_WRAP, value: false },
        { type: lib.CKA_UNWRAP, value: false },
      ]);
      return true;
    });
  }

  async wrapTenantKey(ref: TenantKeyRef, key: SecretBytes): Promise<{ masterKeyId: string; wrapped: Uint8Array }> {
    this.usable();
    const iv = randomBytes(IV_BYTES);
    const plain = Buffer.from(exposeSecretBytes(key));
    try {
      this.pkcs11.C_EncryptInit(this.session, this.gcm(ref, iv), this.key);
      const out = this.pkcs11.C_Encrypt(this.session, plain, Buffer.alloc(plain.length + TAG_BYTES));
      return { masterKeyId: this.masterKeyId, wrapped: Buffer.concat([Buffer.of(FORMAT_GCM), iv, out]) };
    } catch (e) {
      throw asKeyError(e, 'wrapping a tenant key');
    } finally {
      plain.fill(0);
    }
  }

  async unwrapTenantKey(ref: TenantKeyRef, masterKeyId: string, wrapped: Uint8Array): Promise<SecretBytes> {
    this.usable();
    if (masterKeyId !== this.masterKeyId) {
      throw new KeyError('KEY_NOT_FOUND', `tenant ${ref.tenant} key v${ref.version} is wrapped by ${masterKeyId}, not by ${this.masterKeyId}`);
    }
    if (wrapped.length !== 1 + IV_BYTES + 32 + TAG_BYTES || wrapped[0] !== FORMAT_GCM) throw new KeyError('DECRYPTION_FAILED', 'decryption failed');
    const iv = Buffer.from(wrapped.subarray(1, 1 + IV_BYTES));
    const out = Buffer.alloc(32 + TAG_BYTES);
    try {
      try {
        this.pkcs11.C_DecryptInit(this.session, this.gcm(ref, iv), this.key);
      } catch (e) {
        throw asKeyError(e, 'unwrapping a tenant key');
      }
      let plain: Buffer;
      try {
        plain = this.pkcs11.C_Decrypt(this.session, Buffer.from(wrapped.subarray(1 + IV_BYTES)), out);
      } catch {
        // Once the operation is set up, a failure is the tag not verifying (moved, altered,
        // other tenant or version): tokens report it as CKR_ENCRYPTED_DATA_INVALID, and
        // SoftHSM2 as CKR_GENERAL_ERROR.
        throw new KeyError('DECRYPTION_FAILED', 'decryption failed');
      }
      if (plain.length !== 32) throw new KeyError('DECRYPTION_FAILED', 'decryption failed');
      return SecretBytes.secure(new Uint8Array(plain));
    } finally {
      out.fill(0);
    }
  }

  /** Logs out and closes the session (and the library, when no other provider of the process uses it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    endSession(this.pkcs11, this.session, this.modulePath);
  }

  private gcm(ref: TenantKeyRef, iv: Buffer): Pkcs11js.Mechanism {
    const aad = Buffer.from(tenantKeyAad(ref.tenant, ref.version, this.masterKeyId));
    return { mechanism: this.lib.CKM_AES_GCM, parameter: { type: this.lib.CK_PARAMS_GCM, iv, ivBits: IV_BYTES * 8, aad, tagBits: TAG_BYTES * 8 } as Pkcs11js.GcmParams };
  }

  private usable(): void {
    if (this.#closed) throw new KeyError('KEY_UNAVAILABLE', 'the PKCS#11 key provider is closed');
  }
}
