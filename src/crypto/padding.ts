/**
 * Length padding of sealed plaintext, so that a ciphertext's length says little of what
 * it holds (pure). An AEAD ciphertext is exactly as long as its plaintext plus the tag:
 * whoever reads the rows (a DBA, a backup, an archive) could otherwise tell a short
 * "denied" from a long "approved: transfer of …", or which of an agent's canned tool
 * results came back, without any key.
 *
 *   padded = plaintext ‖ 0x80 ‖ 0x00 … (ISO/IEC 7816-4, as libsodium's sodium_pad)
 *
 * to `paddedSize(n)` bytes for n = the plaintext's length + 1 (the marker): the next
 * multiple of 256 up to 4 KiB, and above it Padmé's size (Nikitin et al., "Reducing
 * Metadata Leakage from Encrypted Files and Communication with PURBs", PETS 2019), which
 * keeps only the top ⌊log₂ ⌊log₂ n⌋⌋ + 1 bits of the length: at most 1/16 more bytes above
 * 4 KiB, 1/32 from 64 KiB. Below 4 KiB Padmé's own steps would be finer than 256 bytes,
 * which tells most short messages apart; 256 bytes cost at most that much each.
 */
export const PAD_BLOCK = 256;
/** Where Padmé's step reaches PAD_BLOCK (n of 4 KiB and over): above it, Padmé alone. */
const PADME_FROM = 4096;

/** The padded size for n bytes (the plaintext and its marker, n ≥ 1). */
export function paddedSize(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError('a padded size is for 1 byte or more');
  if (n <= PADME_FROM) return Math.ceil(n / PAD_BLOCK) * PAD_BLOCK;
  const e = Math.floor(Math.log2(n));
  const s = Math.floor(Math.log2(e)) + 1;
  const step = 2 ** (e - s);
  return Math.ceil(n / step) * step;
}

/**
 * Writes the marker and zeros after `length` bytes of plaintext in `buf`, up to the padded
 * size, which it returns; `buf` must hold that many bytes.
 */
export function padInPlace(buf: Uint8Array, length: number): number {
  const size = paddedSize(length + 1);
  buf[length] = 0x80;
  buf.fill(0, length + 1, size);
  return size;
}

/**
 * The plaintext's length within `length` padded bytes of `buf`, or -1 when they are not
 * padded as padInPlace pads (no marker, or not to the padded size of what they hold).
 */
export function unpaddedLength(buf: Uint8Array, length: number): number {
  let i = length - 1;
  while (i >= 0 && buf[i] === 0) i--;
  return i >= 0 && buf[i] === 0x80 && paddedSize(i + 1) === length ? i : -1;
}
