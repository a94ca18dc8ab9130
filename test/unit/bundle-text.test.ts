import fc from 'fast-check';
import { blake2b256, bytes, frame, str, toHex } from '../../src/crypto';
import { SECTION_TAG, sectionDigest } from '../../src/audit/bundle';
import { bundleText, prettyJson } from '../../src/audit/bundle-text';
import { canonicalJson, type Bundle } from '../../src/audit';
import { canonicalPieces, jsonValue } from '../../src/audit/canonical';

/**
 * Writing a bundle without holding its text: the pieces are JSON.stringify's text exactly,
 * and a section's digest, written member by member, is the digest of its canonical JSON.
 */

/** JSON data as a bundle holds it, with members JSON.stringify leaves out or writes as null. */
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(fc.jsonValue(), fc.string({ unit: 'binary' }), fc.constant(undefined), fc.double()),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), tie('node'), { maxKeys: 5 }),
  ),
})).node;

/** The section digest as the format defines it (docs/export-format.md): one frame, canonical JSON as `bytes`. */
const specDigest = (name: string, v: unknown) => toHex(blake2b256(frame([str(SECTION_TAG), str(name), bytes(Buffer.from(canonicalJson(v), 'utf8'))])));

describe('bundle text', () => {
  it('is JSON.stringify(value, null, 1), piece by piece, at any depth', () => {
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 3 }), (v, depth) => {
        const whole = (JSON.stringify(v, null, 1) ?? 'null').replaceAll('\n', '\n' + ' '.repeat(depth));
        expect([...prettyJson(v, depth)].join('')).toBe(whole);
      }),
      { numRuns: 500 },
    );
  });

  it('writes a bundle as JSON.stringify does, a newline after it, in pieces of about the chunk size', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }), value, { maxKeys: 8 }), fc.integer({ min: 1, max: 200 }), (doc, chunk) => {
        const pieces = [...bundleText(doc as unknown as Bundle, chunk)];
        expect(pieces.join('')).toBe(JSON.stringify(doc, null, 1) + '\n');
        // Every piece but the last reached the chunk size; none is empty.
        for (const p of pieces.slice(0, -1)) expect(p.length).toBeGreaterThanOrEqual(chunk);
        expect(pieces.every((p) => p.length > 0)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('canonical JSON in pieces, at any depth of splitting, is canonical JSON', () => {
    fc.assert(
      fc.property(value.filter((v) => v !== undefined), fc.integer({ min: 0, max: 6 }), (v, levels) => {
        expect([...canonicalPieces(v, levels)].join('')).toBe(canonicalJson(v));
      }),
      { numRuns: 500 },
    );
    // The order canonicalJson writes: integer-like keys first, by number (as any JS object
    // enumerates them), then the others sorted; a __proto__ member left out.
    const odd = JSON.parse('{"b":1,"10":2,"9":3,"a":{"2":[1,{"z":0,"y":null}],"1":"x"},"__proto__":{"p":1}}');
    expect([...canonicalPieces(odd)].join('')).toBe(canonicalJson(odd));
    expect([...canonicalPieces(odd)].join('')).toBe('{"9":3,"10":2,"a":{"1":"x","2":[1,{"y":null,"z":0}]},"b":1}');
    // As docs/export-format.md states it for verifiers in other languages: array-index keys
    // first by number, then the rest (a leading zero, or 2^32-1, is not an index) by code unit.
    const keys = JSON.parse('{"a":1,"01":2,"4294967295":3,"9":4,"10":5,"4294967294":6}');
    expect(canonicalJson(keys)).toBe('{"9":4,"10":5,"4294967294":6,"01":2,"4294967295":3,"a":1}');
  });

  it("a section's digest, written member by member, is the digest of its canonical JSON", () => {
    fc.assert(
      fc.property(fc.string(), fc.oneof(fc.array(value, { maxLength: 8 }), value.filter((v) => v !== undefined)), (name, v) => {
        expect(sectionDigest(name, v)).toBe(specDigest(name, v));
      }),
      { numRuns: 500 },
    );
    // Non-ASCII members: the length counted is UTF-8 bytes, not characters.
    expect(sectionDigest('events', ['é', { 'ключ': '💶' }, [], null])).toBe(specDigest('events', ['é', { 'ключ': '💶' }, [], null]));
    expect(sectionDigest('events', [])).toBe(specDigest('events', []));
  });

  it("a section's digest is the same across the hashing buffer's 64 KB boundaries, and for members larger than it", () => {
    // Members of 0..100 KB, multi-byte characters among them, land on either side of each
    // boundary and straddle it; one member alone may exceed the buffer.
    const member = fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.constantFrom('a', 'é', '💶', '"')).map(([n, c]) => ({ text: c.repeat(Math.ceil(n / c.length)) }));
    fc.assert(
      fc.property(fc.array(member, { maxLength: 6 }), (v) => {
        expect(sectionDigest('states', v)).toBe(specDigest('states', v));
      }),
      { numRuns: 60 },
    );
  });

  it('jsonValue is what a JSON round trip gives back, without the text', () => {
    const withJsonOnly = fc.letrec((tie) => ({
      leaf: fc.oneof(value, fc.date({ noInvalidDate: true }), fc.constant(NaN), fc.constant(-Infinity), fc.constant(() => 1), fc.constant(Symbol('s'))),
      node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 6 }), tie('node'), { maxKeys: 4 })),
    })).node;
    fc.assert(
      fc.property(withJsonOnly, (v) => {
        const text = JSON.stringify(v);
        expect(jsonValue(v)).toStrictEqual(text === undefined ? undefined : JSON.parse(text));
      }),
      { numRuns: 500 },
    );
    const odd = JSON.parse('{"__proto__":{"p":1},"d":1}');
    expect(jsonValue(odd)).toStrictEqual(JSON.parse(JSON.stringify(odd)));
    expect(Object.keys(jsonValue(odd) as object)).toEqual(['__proto__', 'd']);
    // Strings are shared, not copied: a large state is not held twice.
    const big = 'x'.repeat(1 << 20);
    const copy = jsonValue({ messages: [{ content: big }] }) as { messages: { content: string }[] };
    expect(copy.messages[0]!.content).toBe(big);
  });
});
