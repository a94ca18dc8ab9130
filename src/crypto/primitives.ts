import { createRequire } from 'node:module';
import { sodium } from './sodium';

/**
 * The four primitives on the hot path (XChaCha20-Poly1305-IETF, BLAKE2b, Ed25519 sign and
 * verify) from one of two libsodium builds that produce identical bytes:
 *   - `sodium-native`: libsodium compiled natively (an optional dependency with prebuilt
 *     binaries), about 3× faster for 256 B–4 KB messages;
 *   - `libsodium-wrappers`: libsodium compiled to WebAssembly, which always works.
 * The native build is used when it loads, unless VAULT_SODIUM=wrappers says otherwise.
 * Known-answer vectors and a property test run on both (test/unit/primitives.test.ts).
 */
export interface Primitives {
  readonly name: 'sodium-native' | 'libsodium-wrappers';
  aeadEncrypt(plaintext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  /** Throws (any error) when the ciphertext does not authenticate. */
  aeadDecrypt(ciphertext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  /** As aeadDecrypt, into `out` (at least the ciphertext's length less 16 bytes); returns the plaintext's length. */
  aeadDecryptInto(out: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): number;
  generichash(outLength: number, data: Uint8Array, key: Uint8Array | null): Uint8Array;
  /** As generichash, into `out` (its length is the output's). */
  generichashInto(out: Uint8Array, data: Uint8Array, key: Uint8Array | null): void;
  /** Unkeyed BLAKE2b over input given in parts: the same bytes as `generichash` over their concatenation. */
  generichashStream(outLength: number): HashStream;
  signDetached(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

/** A BLAKE2b computation fed piece by piece (crypto_generichash_init/update/final). */
export interface HashStream {
  update(data: Uint8Array): void;
  /** The digest; the stream is done after it. */
  final(): Uint8Array;
}

const TAG = 16;

/** libsodium-wrappers (WebAssembly): needs ensureSodium() first. */
export const wasmPrimitives: Primitives = {
  name: 'libsodium-wrappers',
  aeadEncrypt: (m, ad, nonce, key) => sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(m, ad, null, nonce, key),
  aeadDecrypt: (c, ad, nonce, key) => sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(null, c, ad, nonce, key),
  aeadDecryptInto(out, c, ad, nonce, key) {
    // The WebAssembly build returns its own array: copied into `out`, then zeroed.
    const m = sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(null, c, ad, nonce, key);
    try {
      if (m.length > out.length) throw new Error('no room for the plaintext');
      out.set(m);
      return m.length;
    } finally {
      m.fill(0);
    }
  },
  generichash: (n, data, key) => sodium().crypto_generichash(n, data, key),
  generichashInto(out, data, key) {
    const h = sodium().crypto_generichash(out.length, data, key);
    out.set(h);
    h.fill(0);
  },
  generichashStream(n) {
    const state = sodium().crypto_generichash_init(null, n);
    return { update: (data) => sodium().crypto_generichash_update(state, data), final: () => sodium().crypto_generichash_final(state, n) };
  },
  signDetached: (m, sk) => sodium().crypto_sign_detached(m, sk),
  verifyDetached: (sig, m, pk) => sodium().crypto_sign_verify_detached(sig, m, pk),
};

type Native = {
  sodium_malloc(size: number): Buffer;
  crypto_aead_xchacha20poly1305_ietf_encrypt(c: Buffer, m: Buffer, ad: Buffer, nsec: null, npub: Buffer, k: Buffer): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(m: Buffer, nsec: null, c: Buffer, ad: Buffer, npub: Buffer, k: Buffer): number;
  crypto_generichash(out: Buffer, data: Buffer, key?: Buffer): void;
  crypto_generichash_STATEBYTES: number;
  crypto_generichash_init(state: Buffer, key: null, outLength: number): void;
  crypto_generichash_update(state: Buffer, data: Buffer): void;
  crypto_generichash_final(state: Buffer, out: Buffer): void;
  crypto_sign_detached(sig: Buffer, m: Buffer, sk: Buffer): void;
  crypto_sign_verify_detached(sig: Buffer, m: Buffer, pk: Buffer): boolean;
};

/**
 * A Buffer view of the same bytes: sodium-native takes Buffers, and copying would cost what
 * it saves. A Buffer (what node-postgres returns for bytea, and what these primitives
 * return for a derived key or a plaintext) is passed as it is: wrapping it again cost
 * about 5% of a decrypted read.
 */
const view = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/**
 * Room for public bytes a primitive writes and whoever receives them keeps only briefly (a
 * ciphertext, a nonce, a new event's chain hash, a signature, on their way to the
 * database): a view into a shared 64 KiB slab rather than a typed array of its own.
 * - A Uint8Array of its own above 64 bytes gets its own backing store: 1.6 µs for a ~1 KB
 *   event where a view takes 0.1, and with the garbage collector's work for it about a
 *   quarter of sealing the event (15 µs against 11.6–12.2, by turns).
 * - One of 64 bytes or less is made on V8's heap, cheaply, but handed to native code V8
 *   first moves it to a backing store of its own: 0.65 µs more for a 32-byte hash written
 *   by sodium-native than for a view (stop 39).
 * Every byte is written by the primitive, and none of it is secret. A slab is freed once
 * no view cut from it is held, so a holder that keeps one for long (a session's head
 * hash in the session cache) copies it. Large ones get their own.
 */
export function slabBytes(length: number): Uint8Array {
  if (length > SLAB_BYTES / 8) return new Uint8Array(length);
  if (slabAt + length > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabAt = 0;
  }
  const out = new Uint8Array(slab, slabAt, length);
  slabAt += (length + 7) & ~7; // each view starts 8-byte aligned
  return out;
}

const SLAB_BYTES = 64 * 1024;
let slab = new ArrayBuffer(0);
let slabAt = 0;

function nativeFrom(n: Native): Primitives {
  return {
    name: 'sodium-native',
    aeadEncrypt(m, ad, nonce, key) {
      const out = slabBytes(m.length + TAG);
      n.crypto_aead_xchacha20poly1305_ietf_encrypt(view(out), view(m), view(ad), null, view(nonce), view(key));
      return out;
    },
    aeadDecrypt(c, ad, nonce, key) {
      if (c.length < TAG) throw new Error('ciphertext too short');
      // Its own memory, outside Node's shared Buffer pool (a plaintext, an unwrapped key), not
      // zero-filled first: every byte is written, or it throws and is dropped.
      const out = Buffer.allocUnsafeSlow(c.length - TAG);
      n.crypto_aead_xchacha20poly1305_ietf_decrypt(view(out), null, view(c), view(ad), view(nonce), view(key));
      return out;
    },
    aeadDecryptInto(out, c, ad, nonce, key) {
      if (c.length < TAG || out.length < c.length - TAG) throw new Error('ciphertext too short, or no room for its plaintext');
      const m = view(out).subarray(0, c.length - TAG);
      n.crypto_aead_xchacha20poly1305_ietf_decrypt(m, null, view(c), view(ad), view(nonce), view(key));
      return m.length;
    },
    generichashInto(out, data, key) {
      if (key) n.crypto_generichash(view(out), view(data), view(key));
      else n.crypto_generichash(view(out), view(data));
    },
    generichash(len, data, key) {
      // A derived key goes straight back into the AEAD: a Buffer needs no wrapping there.
      const out = key ? Buffer.alloc(len) : new Uint8Array(len);
      if (key) n.crypto_generichash(view(out), view(data), view(key));
      else n.crypto_generichash(view(out), view(data));
      return out;
    },
    generichashStream(len) {
      const state = Buffer.alloc(n.crypto_generichash_STATEBYTES);
      n.crypto_generichash_init(state, null, len);
      return {
        update: (data) => n.crypto_generichash_update(state, view(data)),
        final() {
          const out = new Uint8Array(len);
          n.crypto_generichash_final(state, view(out));
          return out;
        },
      };
    },
    signDetached(m, sk) {
      const sig = slabBytes(64);
      n.crypto_sign_detached(view(sig), view(m), view(sk));
      return sig;
    },
    verifyDetached(sig, m, pk) {
      return sig.length === 64 && pk.length === 32 && n.crypto_sign_verify_detached(view(sig), view(m), view(pk));
    },
  };
}

/** sodium-native itself, or null when it is not installed or does not load here. */
function loadNative(): Native | null {
  try {
    return createRequire(__filename)('sodium-native') as Native;
  } catch {
    return null;
  }
}

/** sodium-native's primitives, or null when it is not installed or does not load here. */
export function loadNativePrimitives(): Primitives | null {
  const n = loadNative();
  return n ? nativeFrom(n) : null;
}

let secureAllocator: ((size: number) => Uint8Array) | null | undefined;

/**
 * Memory for a long-lived key: libsodium's sodium_malloc (sodium-native), which sits
 * between guard pages, is locked against swapping where the limit allows, and is marked
 * MADV_DONTDUMP so that a core file does not hold it. Null without sodium-native (or with
 * VAULT_SODIUM=wrappers): then keys are ordinary memory, still zeroed on dispose.
 */
export function secureAlloc(size: number): Uint8Array | null {
  if (secureAllocator === undefined) {
    const n = process.env.VAULT_SODIUM === 'wrappers' ? null : loadNative();
    secureAllocator = n ? (len) => n.sodium_malloc(len) : null;
  }
  return secureAllocator ? secureAllocator(size) : null;
}

let active: Primitives | null = null;

/** The primitives in use: sodium-native when it loads (and VAULT_SODIUM is not `wrappers`), else libsodium-wrappers. */
export function primitives(): Primitives {
  if (!active) active = (process.env.VAULT_SODIUM !== 'wrappers' && loadNativePrimitives()) || wasmPrimitives;
  return active;
}

/** @internal Tests: run the same code on either build. */
export function usePrimitives(p: Primitives): void {
  active = p;
}
