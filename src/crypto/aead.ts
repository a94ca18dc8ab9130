import { randomBytes } from 'node:crypto';
import { KeyError } from '../errors';
import { SecretBytes, exposeSecretBytes } from './secret-bytes';
import { primitives, secureAlloc, slabBytes } from './primitives';
import { padInPlace, paddedSize, unpaddedLength } from './padding';

/**
 * XChaCha20-Poly1305-IETF, the AEAD for event content and for key wrapping.
 *
 * Why it is safe here: the 192-bit nonce is random per message (node:crypto randomBytes,
 * the OS CSPRNG), so nonce reuse across billions of messages under one key has
 * negligible probability (birthday bound near 2^96), and we never need a counter that
 * would have to survive crashes. Poly1305 authenticates the ciphertext and the
 * associated data, which binds every ciphertext to where it belongs (see callers).
 */
export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 24;
export const AEAD_TAG_BYTES = 16;

export interface Sealed {
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/**
 * Nonces come from the OS CSPRNG in 24 KiB draws rather than one syscall per message
 * (which showed up at 4% of append time); each nonce is used once and the pool is never
 * reused or exposed.
 */
const NONCE_POOL_BYTES = AEAD_NONCE_BYTES * 1024;
let noncePool = new Uint8Array(0);
let noncePoolOffset = 0;

function freshNonce(): Uint8Array {
  if (noncePoolOffset + AEAD_NONCE_BYTES > noncePool.length) {
    noncePool = new Uint8Array(randomBytes(NONCE_POOL_BYTES));
    noncePoolOffset = 0;
  }
  const nonce = slabBytes(AEAD_NONCE_BYTES);
  nonce.set(noncePool.subarray(noncePoolOffset, noncePoolOffset + AEAD_NONCE_BYTES));
  noncePool.fill(0, noncePoolOffset, noncePoolOffset + AEAD_NONCE_BYTES);
  noncePoolOffset += AEAD_NONCE_BYTES;
  return nonce;
}

/** Generates a fresh random 256-bit key. */
export function generateKey(): SecretBytes {
  return SecretBytes.random(AEAD_KEY_BYTES);
}

/** Encrypts and authenticates `plaintext` together with `ad`. */
export function seal(key: SecretBytes, plaintext: Uint8Array, ad: Uint8Array): Sealed {
  const nonce = freshNonce();
  const ciphertext = primitives().aeadEncrypt(plaintext, ad, nonce, exposeSecretBytes(key));
  return { nonce, ciphertext };
}

/**
 * Decrypts; throws KeyError(DECRYPTION_FAILED) with no further detail on any failure
 * (wrong key, altered ciphertext, nonce or associated data), as an oracle must say nothing.
 */
export function open(key: SecretBytes, sealed: Sealed, ad: Uint8Array): Uint8Array {
  try {
    return primitives().aeadDecrypt(sealed.ciphertext, ad, sealed.nonce, exposeSecretBytes(key));
  } catch {
    throw new KeyError('DECRYPTION_FAILED', 'decryption failed');
  }
}

/**
 * Encrypts a text (an event's JSON) as UTF-8, as `seal` would its bytes; `padded`: padded
 * first to its padded size (padding.ts), so the ciphertext's length tells only that. The
 * bytes are written into one reused buffer (locked memory where sodium-native gives some,
 * as `openText`'s) and zeroed before this returns, where `Buffer.from` would leave them in
 * Node's shared pool of small buffers until something else took that memory.
 */
export function sealText(key: SecretBytes, text: string, ad: Uint8Array, padded = false): Sealed {
  const length = Buffer.byteLength(text, 'utf8');
  const size = padded ? paddedSize(length + 1) : length;
  if (sealScratch.length < size) sealScratch = scratchOf(sealScratch, size);
  try {
    sealScratch.write(text, 0, length, 'utf8');
    if (padded) padInPlace(sealScratch, length);
    return seal(key, sealScratch.subarray(0, size), ad);
  } finally {
    sealScratch.fill(0, 0, size);
  }
}

/**
 * Decrypts a UTF-8 plaintext (an event's JSON, a snapshot's) and returns its text;
 * `padded`: without its padding, which must be as `sealText` writes it. The plaintext is
 * written into one reused buffer (locked memory that core files leave out, with
 * sodium-native; it grows to the largest plaintext opened) and zeroed before this
 * returns, so no copy of it stays behind in memory of its own: a read of 10,000 events
 * made 10,000 such buffers for the collector. DECRYPTION_FAILED as `open`, and for
 * padding that is not so (only a writer holding the key can seal any).
 */
export function openText(key: SecretBytes, sealed: Sealed, ad: Uint8Array, padded = false): string {
  const size = sealed.ciphertext.length - AEAD_TAG_BYTES;
  if (size < 0) throw new KeyError('DECRYPTION_FAILED', 'decryption failed');
  if (textScratch.length < size) textScratch = scratchOf(textScratch, size);
  try {
    let length = primitives().aeadDecryptInto(textScratch, sealed.ciphertext, ad, sealed.nonce, exposeSecretBytes(key));
    if (padded) length = unpaddedLength(textScratch, length);
    if (length >= 0) return textScratch.toString('utf8', 0, length);
  } catch {
    // Said below, with no more detail than for padding that is not so.
  } finally {
    textScratch.fill(0, 0, size);
  }
  throw new KeyError('DECRYPTION_FAILED', 'decryption failed');
}

let textScratch: Buffer = Buffer.alloc(0);
let sealScratch: Buffer = Buffer.alloc(0);

/** A zeroed buffer of at least `size` bytes, in locked memory when there is some; the old one is zeroed and dropped. */
function scratchOf(old: Buffer, size: number): Buffer {
  old.fill(0);
  const capacity = Math.max(4096, 2 ** Math.ceil(Math.log2(size)));
  const held = secureAlloc(capacity);
  return held ? Buffer.from(held.buffer, held.byteOffset, held.byteLength).fill(0) : Buffer.alloc(capacity);
}
