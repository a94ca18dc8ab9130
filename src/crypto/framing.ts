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

/**
 * Encodes the fields in order. Throws RangeError for out-of-range integers. Sizes first,
 * then one buffer written in place: this runs for every event read, hashed or sealed.
 */
export function frame(fields: readonly Field[]): Uint8Array {
  let size = 0;
  for (const f of fields) size += fieldSize(f);
  const out = Buffer.allocUnsafe(size); // every byte is written below
  let at = 0;
  for (const f of fields) at = writeField(f, out, at);
  return out;
}

function fieldSize(f: Field): number {
  switch (f.t) {
    case 'str':
      return 4 + Buffer.byteLength(f.v, 'utf8');
    case 'bytes':
      return 4 + f.v.length;
    case 'u32':
      return 4;
    case 'u64':
    case 'f64':
      return 8;
    case 'opt':
      return 1 + (f.v === null ? 0 : fieldSize(f.v));
  }
}

function writeField(f: Field, out: Buffer, at: number): number {
  switch (f.t) {
    case 'str': {
      const n = out.write(f.v, at + 4, 'utf8');
      writeU32(out, at, n);
      return at + 4 + n;
    }
    case 'bytes':
      writeU32(out, at, f.v.length);
      out.set(f.v, at + 4);
      return at + 4 + f.v.length;
    case 'u32':
      writeU32(out, at, f.v);
      return at + 4;
    case 'u64':
      if (!Number.isSafeInteger(f.v) || f.v < 0) throw new RangeError('u64 field out of range');
      out.writeUInt32BE(Math.floor(f.v / 0x1_0000_0000), at);
      out.writeUInt32BE(f.v % 0x1_0000_0000, at + 4);
      return at + 8;
    case 'f64':
      out.writeDoubleBE(f.v, at);
      return at + 8;
    case 'opt':
      if (f.v === null) {
        out[at] = 0;
        return at + 1;
      }
      out[at] = 1;
      return writeField(f.v, out, at + 1);
  }
}

function writeU32(out: Buffer, at: number, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError('u32 field out of range');
  out.writeUInt32BE(n, at);
}

/**
 * The same encoding as `frame`, written field by field into one buffer reused from call
 * to call: no field objects and no allocation per event, which matters on the read path
 * (three framings an event). `view()` shows the bytes written since `reset()` and is
 * valid only until the writer's next `reset()`: hash it or pass it as associated data at
 * once, never keep it. Byte-for-byte equal to `frame` (property-tested).
 */
export class FrameWriter {
  private buf = Buffer.allocUnsafe(4096);
  private at = 0;

  reset(): this {
    this.at = 0;
    return this;
  }

  str(v: string): this {
    this.room(4 + 3 * v.length); // UTF-8 takes at most 3 bytes per UTF-16 code unit
    const n = asciiInto(this.buf, this.at + 4, v) ?? this.buf.write(v, this.at + 4, 'utf8');
    writeU32(this.buf, this.at, n);
    this.at += 4 + n;
    return this;
  }

  bytes(v: Uint8Array): this {
    this.room(4 + v.length);
    writeU32(this.buf, this.at, v.length);
    this.buf.set(v, this.at + 4);
    this.at += 4 + v.length;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    writeU32(this.buf, this.at, v);
    this.at += 4;
    return this;
  }

  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError('u64 field out of range');
    this.room(8);
    this.buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), this.at);
    this.buf.writeUInt32BE(v % 0x1_0000_0000, this.at + 4);
    this.at += 8;
    return this;
  }

  f64(v: number): this {
    this.room(8);
    this.buf.writeDoubleBE(v === 0 ? 0 : v, this.at);
    this.at += 8;
    return this;
  }

  /** `opt`: 0x00 for null, else 0x01 and the value as `write` puts it. */
  opt<T>(v: T | null, write: (this: FrameWriter, x: T) => FrameWriter): this {
    this.room(1);
    this.buf[this.at++] = v === null ? 0 : 1;
    if (v !== null) write.call(this, v);
    return this;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
}

/**
 * A short ASCII string (ids, tags, event types: the strings framed for every event)
 * written byte by byte, its UTF-8 being its char codes: cheaper than a call into
 * Buffer.write for each. Undefined, with bytes written that the caller overwrites, for
 * any other string.
 */
function asciiInto(buf: Buffer, at: number, v: string): number | undefined {
  const n = v.length;
  if (n > 64) return undefined;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c > 0x7f) return undefined;
    buf[at + i] = c;
  }
  return n;
}
