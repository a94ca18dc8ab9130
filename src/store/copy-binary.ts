import { StorageError } from '../errors';

/** The 11 bytes every binary COPY output starts with. */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Postgres's timestamps count microseconds from 2000-01-01T00:00:00Z. */
const EPOCH_2000_MS = Date.UTC(2000, 0, 1);

/**
 * Reads PostgreSQL's binary COPY output (the `FORMAT binary` file layout: a header, then
 * each row as a field count and each field as a length and its bytes in the type's binary
 * form), one row and one field at a time, in the order the query gave them. Pure: it
 * reads a buffer the store fetched. Byte strings come out as views of that buffer, not
 * copies. Output of another shape (a row with another field count, a field of another
 * width, a length past the end) is a StorageError, never a misread value.
 */
export class BinaryCopyReader {
  private at = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly doing: string,
  ) {
    if (buf.length < SIGNATURE.length + 8 || !buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw this.malformed();
    const extension = buf.readUInt32BE(SIGNATURE.length + 4);
    this.at = SIGNATURE.length + 8 + extension;
  }

  /** Moves to the next row, which must have `fields` fields; false at the end of the output. */
  nextRow(fields: number): boolean {
    const count = this.buf.readInt16BE(this.skip(2));
    if (count === -1) {
      if (this.at !== this.buf.length) throw this.malformed();
      return false;
    }
    if (count !== fields) throw this.malformed();
    return true;
  }

  /** A bigint (int8) as a number: exact up to 2^53, as node-postgres's parse of its text. */
  bigint(): number | null {
    const at = this.fixed(8);
    return at < 0 ? null : this.buf.readInt32BE(at) * 0x1_0000_0000 + this.buf.readUInt32BE(at + 4);
  }

  integer(): number | null {
    const at = this.fixed(4);
    return at < 0 ? null : this.buf.readInt32BE(at);
  }

  double(): number | null {
    const at = this.fixed(8);
    return at < 0 ? null : this.buf.readDoubleBE(at);
  }

  /** A timestamptz to the millisecond; ±infinity gives an invalid Date, as node-postgres's parser does. */
  timestamp(): Date | null {
    const at = this.fixed(8);
    if (at < 0) return null;
    // Microseconds as high and low words, to milliseconds exactly (hi·2^32 = hi·4,294,967·1000 + hi·296): a double holds micros exactly only to 2^53 (the year 2255).
    const hi = this.buf.readInt32BE(at);
    const lo = this.buf.readUInt32BE(at + 4);
    return new Date(EPOCH_2000_MS + hi * 4_294_967 + Math.floor((hi * 296 + lo) / 1000));
  }

  text(): string | null {
    const at = this.variable();
    return at < 0 ? null : this.buf.toString('utf8', at, this.at);
  }

  /** A bytea: a view of the output's buffer. */
  bytes(): Buffer | null {
    const at = this.variable();
    return at < 0 ? null : this.buf.subarray(at, this.at);
  }

  /** Where a field of `width` bytes starts, the reader moved past it; -1 for NULL. */
  private fixed(width: number): number {
    const length = this.length();
    if (length === -1) return -1;
    if (length !== width) throw this.malformed();
    return this.skip(width);
  }

  /** Where a field of any length starts, the reader moved past it (to its end); -1 for NULL. */
  private variable(): number {
    const length = this.length();
    return length === -1 ? -1 : this.skip(length);
  }

  /** A field's length; -1 for NULL. */
  private length(): number {
    const length = this.buf.readInt32BE(this.skip(4));
    if (length < -1) throw this.malformed();
    return length;
  }

  /** The offset of the next `width` bytes, after checking they are there; the reader moved past them. */
  private skip(width: number): number {
    this.need(width);
    const at = this.at;
    this.at += width;
    return at;
  }

  private need(width: number): void {
    if (this.at + width > this.buf.length) throw this.malformed();
  }

  private malformed(): StorageError {
    return new StorageError('STORAGE_REFUSED', `database error while ${this.doing}: its binary output did not have the expected form`);
  }
}
