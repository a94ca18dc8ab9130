import type * as Pkcs11js from 'pkcs11js';
import { KeyError } from '../errors';
import { signingKeyId } from '../crypto';
import { asKeyError, endSession, findObject, isTrue, keepSession, withSession, type TokenLogin } from './pkcs11-token';

export interface Pkcs11SignerOptions extends TokenLogin {
  /** The label of the Ed25519 key pair in the token (private key: sensitive, never extractable). */
  keyLabel: string;
}

/** PKCS#11 v3.0 Ed25519, which pkcs11js names no constants for. */
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
const CKK_EC_EDWARDS = 0x40;
/** CKA_EC_PARAMS for Ed25519: the DER of its object identifier, 1.3.101.112 (RFC 8410). */
const ED25519_PARAMS = Buffer.from('06032b6570', 'hex');

/**
 * The checkpoint signing key in a PKCS#11 token (an HSM, or SoftHSM2 in tests): an
 * Ed25519 key pair whose private key is created in the token as sensitive and not
 * extractable, so no file, environment or memory of this process ever holds it. The vault
 * hands each checkpoint, access-trail head, bundle manifest and token grant to the token
 * (CKM_EDDSA, pure Ed25519) and gets the 64-byte signature back: standard Ed25519
 * (RFC 8032), which libsodium verifies, so verifiers need nothing new. Its key id is the
 * one a keyring key with that public key would have (`ed25519:<hex>`).
 *
 * The token signs synchronously: a network HSM adds its round trip to every append. The
 * caller closes the signer after the vault that signs with it.
 */
export class Pkcs11Signer {
  readonly id: string;
  #closed = false;

  private constructor(
    private readonly pkcs11: Pkcs11js.PKCS11,
    private readonly modulePath: string,
    private readonly session: Pkcs11js.Handle,
    private readonly key: Pkcs11js.Handle,
    readonly publicKey: Uint8Array,
  ) {
    this.id = signingKeyId(publicKey);
  }

  /**
   * Opens the token, logs in, and finds the key pair. KEY_NOT_FOUND for an unknown token
   * or label; KEYRING_INSECURE for a private key the token would let out (extractable or
   * not sensitive); KEYRING_INVALID for a key that is not Ed25519; KEY_UNAVAILABLE when
   * the library or token cannot be used. Never the PIN.
   */
  static async open(options: Pkcs11SignerOptions): Promise<Pkcs11Signer> {
    return keepSession(options, 'opening the signing key', (t) => {
      const { lib, pkcs11, session } = t;
      const key = findObject(t, lib.CKO_PRIVATE_KEY, options.keyLabel);
      const pub = findObject(t, lib.CKO_PUBLIC_KEY, options.keyLabel);
      if (!key || !pub) throw new KeyError('KEY_NOT_FOUND', `no signing key pair labelled ${options.keyLabel} in token ${options.token}`);
      const [type, extractable, sensitive, sign] = pkcs11.C_GetAttributeValue(session, key, [
        { type: lib.CKA_KEY_TYPE },
        { type: lib.CKA_EXTRACTABLE },
        { type: lib.CKA_SENSITIVE },
        { type: lib.CKA_SIGN },
      ]);
      if (!Buffer.isBuffer(type?.value) || type.value.length < 4 || type.value.readUInt32LE(0) !== CKK_EC_EDWARDS || !isTrue(sign?.value)) {
        throw new KeyError('KEYRING_INVALID', `signing key ${options.keyLabel} in token ${options.token} is not an Ed25519 signing key`);
      }
      if (isTrue(extractable?.value) || !isTrue(sensitive?.value)) {
        throw new KeyError('KEYRING_INSECURE', `signing key ${options.keyLabel} in token ${options.token} is extractable or not sensitive: create it with Pkcs11Signer.createKey`);
      }
      const [point] = pkcs11.C_GetAttributeValue(session, pub, [{ type: lib.CKA_EC_POINT }]);
      return new Pkcs11Signer(pkcs11, options.module, session, key, ed25519Point(point?.value, options));
    });
  }

  /**
   * Creates the key pair in the token (CKM_EC_EDWARDS_KEY_PAIR_GEN, Ed25519, token
   * objects; the private key private, sensitive, not extractable, for signing only).
   * Returns false, creating nothing, when a private key with that label already exists.
   */
  static async createKey(options: Pkcs11SignerOptions): Promise<boolean> {
    return withSession(options, 'creating the signing key', (t) => {
      const { lib, pkcs11, session } = t;
      if (findObject(t, lib.CKO_PRIVATE_KEY, options.keyLabel)) return false;
      pkcs11.C_GenerateKeyPair(
        session,
        { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
        [
          { type: lib.CKA_TOKEN, value: true },
          { type: lib.CKA_PRIVATE, value: false },
          { type: lib.CKA_EC_PARAMS, value: ED25519_PARAMS },
          { type: lib.CKA_VERIFY, value: true },
          { type: lib.CKA_LABEL, value: options.keyLabel },
        ],
        [
          { type: lib.CKA_TOKEN, value: true },
          { type: lib.CKA_PRIVATE, value: true },
          { type: lib.CKA_SENSITIVE, value: true },
          { type: lib.CKA_EXTRACTABLE, value: false },
          { type: lib.CKA_SIGN, value: true },
          { type: lib.CKA_DECRYPT, value: false },
          { type: lib.CKA_UNWRAP, value: false },
          { type: lib.CKA_DERIVE, value: false },
          { type: lib.CKA_LABEL, value: options.keyLabel },
        ],
      );
      return true;
    });
  }

  /** The Ed25519 signature of `message`, made in the token. KEY_UNAVAILABLE if it fails. */
  sign(message: Uint8Array): Uint8Array {
    if (this.#closed) throw new KeyError('KEY_UNAVAILABLE', 'the PKCS#11 signing key is closed');
    try {
      this.pkcs11.C_SignInit(this.session, { mechanism: CKM_EDDSA }, this.key);
      const sig = this.pkcs11.C_Sign(this.session, Buffer.from(message.buffer, message.byteOffset, message.byteLength), Buffer.alloc(64));
      if (sig.length !== 64) throw new KeyError('KEY_UNAVAILABLE', `PKCS#11 signing: the token returned ${sig.length} bytes, not an Ed25519 signature`);
      return new Uint8Array(sig);
    } catch (e) {
      throw asKeyError(e, 'signing');
    }
  }

  /** Logs out and closes the session (and the library, when nothing else of the process uses it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    endSession(this.pkcs11, this.session, this.modulePath);
  }
}

/** The 32-byte public key from CKA_EC_POINT: a DER OCTET STRING (04 20 ‖ key), or the bare key some tokens return. */
function ed25519Point(value: unknown, o: Pkcs11SignerOptions): Uint8Array {
  if (Buffer.isBuffer(value) && value.length === 34 && value[0] === 0x04 && value[1] === 0x20) return new Uint8Array(value.subarray(2));
  if (Buffer.isBuffer(value) && value.length === 32) return new Uint8Array(value);
  throw new KeyError('KEYRING_INVALID', `the public half of signing key ${o.keyLabel} in token ${o.token} is not an Ed25519 point`);
}
