import fc from 'fast-check';
import { blake2b256, ensureSodium, toHex, frame, str, u32, u64, opt, f64, bytes, SecretBytes, exposeSecretBytes } from '../../src/crypto';
import { GENESIS_HASH, contentAad, contentAadV2, encodeForHash, eventHash, eventKey, isEventHash, eventKeyInput, withContentAadV2, withEventKeyInput, type HashedColumns } from '../../src/events';
import { lp, u32be, u64be } from '../support/bytes';

/** Known-answer vectors for the formats in docs/formats.md. A change here is a format change. */
beforeAll(ensureSodium);

const event1: HashedColumns = {
  tenant: 'acme',
  session: 's-1',
  seq: 1,
  type: 'message',
  at: new Date('2026-01-02T03:04:05.678Z'),
  correlationId: 'corr-1',
  idempotencyKey: null,
  tool: null,
  promptTokens: 10,
  completionTokens: 5,
  costUsd: 0.25,
  durationMs: null,
  keyVersion: 1,
  nonce: new Uint8Array(24).fill(7),
  ciphertext: new Uint8Array([1, 2, 3, 4]),
};

const event2: HashedColumns = {
  ...event1,
  seq: 2,
  type: 'tool_call',
  tool: 'lookup',
  promptTokens: null,
  completionTokens: null,
  costUsd: null,
  idempotencyKey: 'k-2',
  nonce: new Uint8Array(24).fill(9),
  ciphertext: new Uint8Array([5, 6]),
};

describe('field framing', () => {
  it('encodes each field type as documented', () => {
    const encoded = frame([str('ab'), u32(1), u64(2), opt(null, str), opt('x', str), f64(0.5), bytes(new Uint8Array([255]))]);
    expect(toHex(encoded)).toBe('000000026162000000010000000000000002000100000001783fe000000000000000000001ff');
  });

  it('never encodes two different field lists the same way', () => {
    expect(toHex(frame([str('ab'), str('c')]))).not.toBe(toHex(frame([str('a'), str('bc')])));
    expect(toHex(frame([opt(null, str)]))).not.toBe(toHex(frame([opt('', str)])));
  });

  it('rejects integers it cannot represent', () => {
    expect(() => frame([u64(-1)])).toThrow(RangeError);
    expect(() => frame([u64(2 ** 53)])).toThrow(RangeError);
    expect(() => frame([u32(2 ** 32)])).toThrow(RangeError);
  });
});

describe('event hash v1', () => {
  it('hashes exactly the documented byte layout', () => {
    const expected = Buffer.concat([
      lp(Buffer.from('session-vault/event/v1')),
      lp(Buffer.alloc(32)),
      lp(Buffer.from('acme')),
      lp(Buffer.from('s-1')),
      u64be(1),
      lp(Buffer.from('message')),
      u64be(Date.parse('2026-01-02T03:04:05.678Z')),
      lp(Buffer.from('corr-1')),
      Buffer.from([0]), // idempotency key absent
      Buffer.from([0]), // tool absent
      Buffer.concat([Buffer.from([1]), u64be(10)]),
      Buffer.concat([Buffer.from([1]), u64be(5)]),
      Buffer.concat([Buffer.from([1]), Buffer.from('3fd0000000000000', 'hex')]), // 0.25
      Buffer.from([0]), // duration absent
      u32be(1),
      lp(Buffer.alloc(24, 7)),
      lp(Buffer.from([1, 2, 3, 4])),
    ]);
    expect(toHex(encodeForHash(GENESIS_HASH, event1))).toBe(expected.toString('hex'));
  });

  it('matches the known-answer vectors in docs/formats.md', () => {
    const h1 = eventHash(GENESIS_HASH, event1);
    expect(toHex(h1)).toBe('93165b1745137f545ba3a45f8652addff97c7edaf588652451ee108f0edd484f');
    expect(toHex(eventHash(h1, event2))).toBe('d56e370b347832b19293cd02bd725acc77b4d641fa1d11244c6ab00bf11cb5f4');
  });

  it('binds content to tenant, session, seq, type and key version in the associated data', () => {
    expect(toHex(contentAad('acme', 's-1', 1, 'message', 1))).toBe(
      '0000001e73657373696f6e2d7661756c742f6576656e742d636f6e74656e742f76310000000461636d6500000003732d310000000000000001000000076d65737361676500000001',
    );
  });
});

describe('seal v2 vectors', () => {
  it('associated data binds place, type, seal version and every clear column', () => {
    const { nonce: _n, ciphertext: _c, ...columns } = event1;
    expect(toHex(contentAadV2({ ...columns, keyVersion: 2 }))).toBe(
      '0000001e73657373696f6e2d7661756c742f6576656e742d636f6e74656e742f76320000000461636d6500000003732d310000000000000001000000076d657373616765000000020000019b7ca98f2e00000006636f72722d31000001000000000000000a010000000000000005013fd000000000000000',
    );
  });

  it("an event's key is keyed BLAKE2b-256 of its place under the data key", () => {
    const key = eventKey(SecretBytes.adopt(new Uint8Array(32).fill(0x2a)), 'acme', 's-1', 1);
    expect(toHex(exposeSecretBytes(key))).toBe('fe0fdeeddbe044001e71e18aaf5f3689b2be50dbf5f751e89f76c2a1150f0572');
  });
});

describe('the reused-buffer framing of the read path', () => {
  // ASCII strings up to 64 characters are written byte by byte, longer or other ones by Buffer.write: both, and a string
  // that turns non-ASCII after an ASCII start (the bytes written so far are overwritten).
  const ascii = fc.string({ unit: 'binary-ascii', maxLength: 100 });
  const near = fc.string({ unit: fc.integer({ min: 0x60, max: 0x8ff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 8 }); // ASCII's edge, Latin-1, two-byte UTF-8
  const text = (maxLength: number) => fc.oneof(fc.string({ unit: 'binary', maxLength }), ascii, fc.tuple(ascii, near).map(([a, b]) => a + b));
  const columns: fc.Arbitrary<HashedColumns> = fc.record({
    tenant: text(20),
    session: text(40),
    seq: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
    type: fc.constantFrom('message', 'tool_call', 'key_shredded'),
    at: fc.date({ min: new Date(0), max: new Date('2100-01-01'), noInvalidDate: true }),
    correlationId: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 30 }), text(30)),
    idempotencyKey: fc.option(text(30)),
    tool: fc.option(text(10)),
    promptTokens: fc.option(fc.nat()),
    completionTokens: fc.option(fc.nat()),
    costUsd: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true })),
    durationMs: fc.option(fc.nat()),
    keyVersion: fc.constantFrom(0, 1, 2),
    nonce: fc.uint8Array({ minLength: 24, maxLength: 24 }),
    // Up to 20 KB: past the writer's first 4 KB, so it grows, and smaller again after.
    ciphertext: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 4000, maxLength: 20_000 })),
  });

  it('refuses the integers frame() refuses, with RangeError', () => {
    for (const seq of [-1, 2 ** 53, 1.5]) expect(() => eventHash(GENESIS_HASH, { ...event1, seq })).toThrow(RangeError);
    const { nonce: _n, ciphertext: _c, ...clear } = event1;
    expect(() => withContentAadV2({ ...clear, promptTokens: -1 }, () => null)).toThrow(RangeError);
    expect(() => withContentAadV2({ ...clear, keyVersion: 2 ** 32 }, () => null)).toThrow(RangeError);
    expect(() => withEventKeyInput('t', 's', -1, () => null)).toThrow(RangeError);
    // A stored row with such a value is simply not the hash's row.
    for (const seq of [-1, 2 ** 53]) expect(isEventHash(eventHash(GENESIS_HASH, event1), GENESIS_HASH, { ...event1, seq })).toBe(false);
    expect(isEventHash(eventHash(GENESIS_HASH, event1), GENESIS_HASH, { ...event1, at: new Date(Number.NaN) })).toBe(false);
    // And the writer is usable after a refusal: the next hash is the one frame() gives.
    expect(toHex(eventHash(GENESIS_HASH, event1))).toBe(toHex(blake2b256(encodeForHash(GENESIS_HASH, event1))));
  });

  it('hashes, binds and derives from the same bytes as frame(), call after call (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), columns), { minLength: 1, maxLength: 4 }), (list) => {
        for (const [prev, e] of list) {
          expect(toHex(eventHash(prev, e))).toBe(toHex(blake2b256(encodeForHash(prev, e))));
          const { nonce: _n, ciphertext: _c, ...clear } = e;
          expect(withContentAadV2(clear, (aad) => toHex(aad))).toBe(toHex(contentAadV2(clear)));
          expect(withEventKeyInput(e.tenant, e.session, e.seq, (input) => toHex(input))).toBe(toHex(eventKeyInput(e.tenant, e.session, e.seq)));
        }
      }),
      { numRuns: 300 },
    );
  });
});
