import { randomFillSync } from 'node:crypto';
import { inspect } from 'node:util';
import { secureAlloc } from './primitives';
import { sodium } from './sodium';

/**
 * Key material. It prints as `[SecretBytes 32 bytes]` in logs, errors, `JSON.stringify`
 * and `util.inspect`, so a key can never leak through a log line by accident.
 * The raw bytes are reachable only through `exposeSecretBytes`, a deliberately
 * greppable name: every call site is a place a reviewer should look.
 */
export class SecretBytes {
  #bytes: Uint8Array | null;

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** Takes ownership of `bytes` (the caller must not keep or reuse them). For short-lived keys (one event's). */
  static adopt(bytes: Uint8Array): SecretBytes {
    return new SecretBytes(bytes);
  }

  /**
   * A long-lived key (master, tenant, session, signing): copied into locked memory that
   * core files leave out (sodium_malloc, with sodium-native), and `bytes` zeroed.
   */
  static secure(bytes: Uint8Array): SecretBytes {
    const held = secureAlloc(bytes.length);
    if (!held) return new SecretBytes(bytes);
    held.set(bytes);
    bytes.fill(0); // not libsodium's memzero: a provider may build keys before ensureSodium()
    return new SecretBytes(held);
  }

  /** `length` fresh random bytes, drawn straight into locked memory when there is some. */
  static random(length: number): SecretBytes {
    const held = secureAlloc(length) ?? new Uint8Array(length);
    randomFillSync(held);
    return new SecretBytes(held);
  }

  get length(): number {
    return this.#bytes?.length ?? 0;
  }

  get disposed(): boolean {
    return this.#bytes === null;
  }

  /** Zeroes the bytes (libsodium memzero) and makes the value unusable. */
  dispose(): void {
    if (this.#bytes) {
      sodium().memzero(this.#bytes);
      this.#bytes = null;
    }
  }

  toString(): string {
    return `[SecretBytes ${this.length} bytes]`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }

  /** @internal used by exposeSecretBytes only. */
  static expose(s: SecretBytes): Uint8Array {
    if (!s.#bytes) throw new Error('key material used after dispose');
    return s.#bytes;
  }
}

/** The raw bytes of a secret. Greppable on purpose: keep call sites few and inside crypto/ and keys/. */
export function exposeSecretBytes(secret: SecretBytes): Uint8Array {
  return SecretBytes.expose(secret);
}
