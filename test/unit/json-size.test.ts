import fc from 'fast-check';
import { jsonBytes, jsonBytesAtMost } from '../../src/domain/json-size';
import { parseEvent, parseEvents } from '../../src/domain';
import { LIMITS } from '../../src/domain/limits';

/** Strings of any UTF-16 code units: escapes, lone surrogates, pairs, multi-byte characters. */
const text = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary-ascii' }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }));

const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    text,
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.array(tie('value'), { maxLength: 6 }),
    fc.dictionary(text, tie('value'), { maxKeys: 6 }),
    fc.dictionary(text, tie('value'), { maxKeys: 3 }).map((o) => Object.assign(Object.create(null) as object, o)),
  ),
}));

describe('jsonBytesAtMost', () => {
  it('is never below the bytes JSON.stringify writes, for any value it gives a bound for', () => {
    fc.assert(
      fc.property(value, (v) => {
        const atMost = jsonBytesAtMost(v);
        expect(atMost).toBeLessThan(Infinity);
        expect(atMost).toBeGreaterThanOrEqual(jsonBytes(v));
      }),
      { numRuns: 2000 },
    );
  });

  it('holds at the extremes: the longest numbers, escapes, lone surrogates and four-byte characters', () => {
    for (const v of [-0.0000012345678901234567, -1.2345678901234567e-308, -Number.MAX_VALUE, NaN, -Infinity, '\u0000\u001f"\\', '\ud800', '\udfff\ud800', '😀'.repeat(50), '\u2028\u2029', { '\u0000': [undefined, null] }]) {
      expect(jsonBytesAtMost(v)).toBeGreaterThanOrEqual(jsonBytes(v));
    }
  });

  it('gives no bound (Infinity) where JSON.stringify would call code or write something else', () => {
    class Point {
      x = 1;
    }
    for (const v of [new Date(0), Buffer.from('ab'), new Point(), () => 1, Symbol('s'), 10n, new Map(), { toJSON: () => 'x'.repeat(10) }, { a: [new Date(0)] }]) {
      expect(jsonBytesAtMost(v)).toBe(Infinity);
    }
  });

  it('gives no bound for an array or object once a toJSON has been put on its prototype', () => {
    const polluted = (proto: object) => {
      Object.defineProperty(proto, 'toJSON', { value: () => 'x'.repeat(1000), configurable: true });
      try {
        return [jsonBytesAtMost({ a: 1 }), jsonBytesAtMost([1])];
      } finally {
        delete (proto as { toJSON?: unknown }).toJSON;
      }
    };
    expect(polluted(Object.prototype)[0]).toBe(Infinity);
    expect(polluted(Array.prototype)[1]).toBe(Infinity);
    expect(jsonBytesAtMost({ a: 1 })).toBeLessThan(Infinity);
  });
});

describe('the size limits, measured through the bound', () => {
  const message = (content: string) => ({ type: 'message', role: 'user', content });
  const overhead = jsonBytes(message(''));

  it('accepts an event of exactly the limit and refuses one byte more, naming its exact size', () => {
    expect(() => parseEvent(message('x'.repeat(LIMITS.maxEventBytes - overhead)))).not.toThrow();
    expect(() => parseEvent(message('x'.repeat(LIMITS.maxEventBytes - overhead + 1)), 'line 1')).toThrow(
      expect.objectContaining({ code: 'INVALID_EVENT', message: `line 1: event is ${LIMITS.maxEventBytes + 1} bytes, over the limit of ${LIMITS.maxEventBytes} bytes` }),
    );
  });

  it('a batch whose bounds exceed the batch limit is measured: accepted below it, refused above it with its exact size', () => {
    // Each event's bound clears the event limit, but together they are far over the batch limit.
    const content = 'x'.repeat(170_000);
    expect(jsonBytesAtMost(message(content))).toBeLessThanOrEqual(LIMITS.maxEventBytes);
    const each = jsonBytes(message(content));
    const fits = Math.floor(LIMITS.maxBatchBytes / each);
    expect(fits * jsonBytesAtMost(message(content))).toBeGreaterThan(LIMITS.maxBatchBytes);
    expect(parseEvents(Array.from({ length: fits }, () => message(content)))).toHaveLength(fits);
    expect(() => parseEvents(Array.from({ length: fits + 1 }, () => message(content)))).toThrow(
      expect.objectContaining({ code: 'INVALID_EVENT', message: `batch is ${(fits + 1) * each} bytes, over the limit of ${LIMITS.maxBatchBytes} bytes` }),
    );
  });
});
