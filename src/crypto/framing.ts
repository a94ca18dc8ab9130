/**
 * Unambiguous binary framing of typed fields, used for AEAD associated data and for the
 * chain hash (docs/formats.md). Every variable-length value carries a 4-byte big-endian
 * length, so two different field lists never encode to the same bytes.
 *
 *   str   u32 length ‖ UTF-8 bytes
 *   bytes u32 length ‖ bytes
 *   u32   4 bytes big-endian
 *   u64   8 bytes big-endian (JS safe integers only)
 *   f64   8 bytes IEEE 754 big-endian; -0 is encoded as +0 (the two are one number
 *         to every reader: JSON, Postgres's text input, `String(-0)`), so a value that
 *         lost its sign in transit still hashes the same
 *   opt   0x00 when absent | 0x01 ‖ the value's encoding
 */
export type Field =
  | { t: 'str'; v: string }
  | { t: 'bytes'; v: Uint8Array }
  | { t: 'u32'; v: number }
  | { t: 'u64'; v: number }
  | { t: 'f64'; v: number }
  | { t: 'opt'; v: Field | null };

export const str = (v: string): Field => ({ t: 'str', v });
export const bytes = (v: Uint8Array): Field => ({ t: 'bytes', v });
export const u32 = (v: number): Field => ({ t: 'u32', v });
export const u64 = (v: number): Field => ({ t: 'u64', v });
export const f64 = (v: number): Field => ({ t: 'f64', v: v === 0 ? 0 : v });
export const opt = <T>(v: T | null, f: (x: T) => Field): Field => ({ t: 'opt', v: v === null ? null : f(v) });

/** Encodes the fields in order. Throws RangeError for out-of-range integers. */
export function frame(fields: readonly Field[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields) encodeField(f, parts);
  return Buffer.concat(parts);
}

function encodeField(f: Field, out: Uint8Array[]): void {
  switch (f.t) {
    case 'str': {
      const b = Buffer.from(f.v, 'utf8');
      out.push(u32Bytes(b.length), b);
      return;
    }
    case 'bytes':
      out.push(u32Bytes(f.v.length), f.v);
      return;
    case 'u32':
      out.push(u32Bytes(f.v));
      return;
    case 'u64': {
      if (!Number.isSafeInteger(f.v) || f.v < 0) throw new RangeError('u64 field out of range');
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(f.v));
      out.push(b);
      return;
    }
    case 'f64': {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(f.v);
      out.push(b);
      return;
    }
    case 'opt':
      if (f.v === null) out.push(Uint8Array.of(0));
      else {
        out.push(Uint8Array.of(1));
        encodeField(f.v, out);
      }
      return;
  }
}

function u32Bytes(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError('u32 field out of range');
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
