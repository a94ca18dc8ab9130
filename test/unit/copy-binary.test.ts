import fc from 'fast-check';
import { BinaryCopyReader } from '../../src/store/copy-binary';
import { StorageError } from '../../src/errors';

/**
 * The reader of PostgreSQL's binary COPY output (src/store/copy-binary.ts), against output
 * written here by the format's rules: it gives back every value written, and output of
 * any other shape (cut anywhere, a row with another field count, a field of another
 * width, bytes after the end) is a StorageError, never a misread value or a RangeError.
 */

type Field = { kind: 'bigint'; v: number | null } | { kind: 'integer'; v: number | null } | { kind: 'double'; v: number | null } | { kind: 'timestamp'; v: number | null } | { kind: 'text'; v: string | null } | { kind: 'bytes'; v: Uint8Array | null };

const HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(4), Buffer.alloc(4)]);
const EPOCH_2000_MS = Date.UTC(2000, 0, 1);

function encodeField(f: Field): Buffer {
  if (f.v === null) return int32(-1);
  let body: Buffer;
  switch (f.kind) {
    case 'bigint':
      body = Buffer.alloc(8);
      body.writeBigInt64BE(BigInt(f.v));
      break;
    case 'timestamp':
      body = Buffer.alloc(8);
      body.writeBigInt64BE(BigInt(f.v - EPOCH_2000_MS) * 1000n);
      break;
    case 'integer':
      body = Buffer.alloc(4);
      body.writeInt32BE(f.v);
      break;
    case 'double':
      body = Buffer.alloc(8);
      body.writeDoubleBE(f.v);
      break;
    case 'text':
      body = Buffer.from(f.v, 'utf8');
      break;
    case 'bytes':
      body = Buffer.from(f.v);
      break;
  }
  return Buffer.concat([int32(body.length), body]);
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

function encode(rows: Field[][], fieldCount?: (row: Field[]) => number): Buffer {
  return Buffer.concat([HEADER, ...rows.flatMap((r) => [int16(fieldCount ? fieldCount(r) : r.length), ...r.map(encodeField)]), int16(-1)]);
}

function decode(output: Buffer, rows: Field[][]): unknown[][] {
  const reader = new BinaryCopyReader(output, 'reading events');
  const out: unknown[][] = [];
  for (const row of rows) {
    if (!reader.nextRow(row.length)) throw new Error('ended early');
    out.push(row.map((f) => (f.kind === 'timestamp' ? reader.timestamp()?.getTime() ?? null : reader[f.kind]())));
  }
  if (reader.nextRow(0)) throw new Error('more rows than written');
  return out;
}

const nullable = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
const field: fc.Arbitrary<Field> = fc.oneof(
  // Negated, but never -0: an int8 has no negative zero, so none comes back to compare with.
  nullable(fc.maxSafeInteger().chain((n) => fc.constantFrom(n, n === 0 ? 0 : -n))).map((v) => ({ kind: 'bigint' as const, v })),
  nullable(fc.integer()).map((v) => ({ kind: 'integer' as const, v })),
  nullable(fc.double({ noNaN: true })).map((v) => ({ kind: 'double' as const, v })),
  nullable(fc.integer({ min: -8.64e15, max: 8.64e15 })).map((v) => ({ kind: 'timestamp' as const, v })),
  nullable(fc.string({ unit: 'grapheme', maxLength: 30 })).map((v) => ({ kind: 'text' as const, v })),
  nullable(fc.uint8Array({ maxLength: 40 })).map((v) => ({ kind: 'bytes' as const, v })),
);
const rows = fc.array(fc.array(field, { minLength: 1, maxLength: 8 }), { maxLength: 6 });
const asRead = (rows: Field[][]) => rows.map((r) => r.map((f) => (f.v instanceof Uint8Array ? Buffer.from(f.v) : f.v)));

const malformed = { name: 'StorageError', code: 'STORAGE_REFUSED', message: 'database error while reading events: its binary output did not have the expected form' };

describe('BinaryCopyReader', () => {
  it('gives back every value written, in order', () => {
    fc.assert(fc.property(rows, (rs) => expect(decode(encode(rs), rs)).toEqual(asRead(rs))));
  });

  it('gives an invalid Date for ±infinity, as node-postgres does', () => {
    for (const infinity of [0x7fffffffffffffffn, -0x8000000000000000n]) {
      const body = Buffer.alloc(8);
      body.writeBigInt64BE(infinity);
      const reader = new BinaryCopyReader(Buffer.concat([HEADER, int16(1), int32(8), body, int16(-1)]), 'reading events');
      expect(reader.nextRow(1)).toBe(true);
      expect(Number.isNaN(reader.timestamp()!.getTime())).toBe(true);
    }
  });

  it('refuses output cut anywhere, typed', () => {
    fc.assert(
      fc.property(
        rows.chain((rs) => fc.tuple(fc.constant(rs), fc.nat(encode(rs).length - 1))),
        ([rs, cut]) => {
          expect(() => decode(encode(rs).subarray(0, cut), rs)).toThrow(expect.objectContaining(malformed));
        },
      ),
    );
  });

  it('refuses bytes after the end, a row with another field count and a field of another width', () => {
    fc.assert(
      fc.property(rows.filter((rs) => rs.length > 0), fc.uint8Array({ minLength: 1, maxLength: 8 }), (rs, extra) => {
        expect(() => decode(Buffer.concat([encode(rs), extra]), rs)).toThrow(expect.objectContaining(malformed));
        expect(() => decode(encode(rs, (r) => r.length + 1), rs)).toThrow(expect.objectContaining(malformed));
      }),
    );
    const reader = new BinaryCopyReader(Buffer.concat([HEADER, int16(1), int32(4), int32(7), int16(-1)]), 'reading events');
    reader.nextRow(1);
    expect(() => reader.bigint()).toThrow(StorageError);
    expect(() => new BinaryCopyReader(Buffer.from('PGCOPY\n'), 'reading events')).toThrow(expect.objectContaining(malformed));
  });
});
