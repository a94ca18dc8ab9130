import { SecretBytes, exposeSecretBytes } from './secret-bytes';
import { blake2b256, toHex } from './hash';
import { frame, str, bytes } from './framing';
import { sodium } from './sodium';
import { primitives } from './primitives';

/** Ed25519 signatures (libsodium crypto_sign), for signed chain heads. */
export interface SigningKeyPair {
  publicKey: Uint8Array;
  secretKey: SecretBytes;
}

/** Generates an Ed25519 key pair from libsodium's CSPRNG (called rarely: keyring creation). */
export function generateSigningKeyPair(): SigningKeyPair {
  const kp = sodium().crypto_sign_keypair();
  return { publicKey: kp.publicKey, secretKey: SecretBytes.secure(kp.privateKey) };
}

/** A short, stable id for a public key: `ed25519:` and 16 hex of BLAKE2b-256 over a tagged key. */
export function signingKeyId(publicKey: Uint8Array): string {
  const digest = blake2b256(frame([str('session-vault/signing-key-id/v1'), bytes(publicKey)]));
  return `ed25519:${toHex(digest).slice(0, 16)}`;
}

/**
 * The public key that belongs to an Ed25519 secret key, derived again from its seed
 * (libsodium's 64-byte secret key is seed ‖ public key), so a keyring whose halves were
 * mixed up is caught rather than trusted.
 */
export function publicKeyOf(secretKey: SecretBytes): Uint8Array {
  const seed = exposeSecretBytes(secretKey).subarray(0, 32);
  const derived = sodium().crypto_sign_seed_keypair(seed);
  sodium().memzero(derived.privateKey);
  return derived.publicKey;
}

export function signDetached(message: Uint8Array, secretKey: SecretBytes): Uint8Array {
  return primitives().signDetached(message, exposeSecretBytes(secretKey));
}

export function verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return primitives().verifyDetached(signature, message, publicKey);
  } catch {
    return false;
  }
}
