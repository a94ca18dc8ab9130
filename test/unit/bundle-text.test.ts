import fc from 'fast-check';
import { blake2b256, bytes, frame, str, toHex } from '../../src/crypto';
import { SECTION_TAG, sectionDigest } from '../../src/audit/bundle';
import { bundleText, prettyJson } from '../../src/audit/bundle-text';
import { canonicalJson, type Bundle } from '../../src/audit';
import { canonicalPieces } from '../../src/audit/canonical';

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
});
