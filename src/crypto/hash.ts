import { sodium } from './sodium';
import { primitives, secureAlloc, type HashStream } from './primitives';
import { SecretBytes, exposeSecretBytes } from './secret-bytes';

export const HASH_BYTES = 32;

/** BLAKE2b with a 256-bit output (libsodium crypto_generichash). Callers add domain tags. */
export function blake2b256(data: Uint8Array): Uint8Array {
  return primitives().generichash(HASH_BYTES, data, null);
}

/** BLAKE2b-256 written into `out` (32 bytes), for a digest only compared: no memory of its own each time. */
export function blake2b256Into(out: Uint8Array, data: Uint8Array): void {
  primitives().generichashInto(out, data, null);
}

/** BLAKE2b-256 of bytes given in parts (`update`, then `final`): the same digest as `blake2b256` of them joined. */
export function blake2b256Stream(): HashStream {
  return primitives().generichashStream(HASH_BYTES);
}

/**
 * Keyed BLAKE2b-256 (crypto_generichash with a key): a PRF, used to derive one key from
 * another (an event's key from its session's data key). The output is key material.
 */
export function deriveKey(key: SecretBytes, data: Uint8Array): SecretBytes {
  return SecretBytes.adopt(primitives().generichash(HASH_BYTES, data, exposeSecretBytes(key)));
}

/**
 * Calls `use` with the key `deriveKey` derives, written into one reused buffer (locked
 * memory, with sodium-native) and zeroed when `use` returns: for a key used once, at
 * once (an event's own key, to open it), without a buffer of its own each time. `use`
 * must not keep the key; a call made inside `use` derives into memory of its own.
 */
export function withDerivedKey<T>(key: SecretBytes, data: Uint8Array, use: (derived: SecretBytes) => T): T {
  if (keyScratchBusy) {
    const own = deriveKey(key, data);
    try {
      return use(own);
    } finally {
      own.dispose();
    }
  }
  keyScratch ??= secureAlloc(HASH_BYTES) ?? new Uint8Array(HASH_BYTES);
  keyScratchBusy = true;
  const derived = SecretBytes.adopt(keyScratch);
  try {
    primitives().generichashInto(keyScratch, data, exposeSecretBytes(key));
    return use(derived);
  } finally {
    derived.dispose(); // zeroes the buffer, which stays for the next call
    keyScratchBusy = false;
  }
}

let keyScratch: Uint8Array | null = null;
let keyScratchBusy = false;

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** Constant-time comparison of two byte strings of any length. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return sodium().memcmp(a, b);
}
