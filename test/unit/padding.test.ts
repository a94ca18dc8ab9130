import fc from 'fast-check';
import { PAD_BLOCK, SecretBytes, deriveKey, ensureSodium, open, openText, padInPlace, paddedSize, seal, sealText, unpaddedLength } from '../../src/crypto';
import { GENESIS_HASH, SEAL_V2, SEAL_V3, eventHash, openEvent, sealEvent, withContentAadV2, withEventKeyInput } from '../../src/events';
import { resolveConfig, vaultOptions } from '../../src/cli/config';

/**
 * Sealed content is padded before it is sealed (docs/formats.md, "Padding"): a
 * ciphertext's length tells the next multiple of 256 bytes up to 4 KiB, and Padmé's size
 * above, not the content's own length.
 */
beforeAll(ensureSodium);

const key = () => SecretBytes.adopt(new Uint8Array(32).fill(7));
const ad = Buffer.from('ad');

describe('the padded size', () => {
  it('is the next multiple of 256 up to 4 KiB, and Padmé above (vectors in docs/formats.md)', () => {
    const vectors: [number, number][] = [
      [1, 256],
      [256, 256],
      [257, 512],
      [4096, 4096],
      [4097, 4352],
      [8193, 8704],
      [65_536, 65_536],
      [65_537, 67_584],
      [1_000_000, 1_015_808],
    ];
    expect(vectors.map(([n]) => [n, paddedSize(n)])).toEqual(vectors);
  });

  it('is never less than the length, grows with it, is its own padded size, and costs at most 255 bytes to 4 KiB and 1/16 above (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 30 }), fc.integer({ min: 0, max: 5000 }), (n, more) => {
        const p = paddedSize(n);
        expect(p).toBeGreaterThanOrEqual(n);
        expect(paddedSize(n + more)).toBeGreaterThanOrEqual(p);
        expect(paddedSize(p)).toBe(p);
        expect(p - n).toBeLessThanOrEqual(n <= 4096 ? PAD_BLOCK - 1 : n / 16);
      }),
      { numRuns: 2000 },
    );
  });

  it('is asked only of a length of 1 byte or more', () => {
    for (const n of [0, -1, 1.5, Number.NaN, 2 ** 53]) expect(() => paddedSize(n)).toThrow(RangeError);
  });
});

describe('padding', () => {
  it('gives back what was padded, whatever its bytes (zeros and 0x80 among them), and nothing from what was not padded so (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), (m) => {
        const buf = new Uint8Array(paddedSize(m.length + 1)).fill(0xaa);
        buf.set(m);
        expect(padInPlace(buf, m.length)).toBe(buf.length);
        expect(unpaddedLength(buf, buf.length)).toBe(m.length);
        // Cut short, or grown, or its marker lost: not padded as the vault pads.
        expect(unpaddedLength(buf, buf.length - 1)).toBe(-1);
        const grown = new Uint8Array(buf.length + PAD_BLOCK);
        grown.set(buf);
        expect(unpaddedLength(grown, grown.length)).toBe(-1);
        const unmarked = Uint8Array.from(buf);
        unmarked[m.length] = 0;
        if (!m.includes(0x80)) expect(unpaddedLength(unmarked, unmarked.length)).toBe(-1);
      }),
      { numRuns: 300 },
    );
  });

  it('seals a text to its padded size, opens it back, and refuses one sealed without the padding', () => {
    const k = key();
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 3000 }), (text) => {
        const sealed = sealText(k, text, ad, true);
        expect(sealed.ciphertext.length).toBe(paddedSize(Buffer.byteLength(text) + 1) + 16);
        expect(openText(k, sealed, ad, true)).toBe(text);
        // The bytes inside are the text, the marker and zeros.
        const inside = Buffer.from(open(k, sealed, ad));
        expect(inside.subarray(0, Buffer.byteLength(text)).toString('utf8')).toBe(text);
        expect([...inside.subarray(Buffer.byteLength(text))]).toEqual([0x80, ...new Array(inside.length - Buffer.byteLength(text) - 1).fill(0)]);
      }),
      { numRuns: 200 },
    );
    // A writer holding the key who seals bytes not padded so: refused as any failure to open, with nothing more said.
    for (const bytes of [Buffer.from('{"a":1}'), Buffer.alloc(256), Buffer.concat([Buffer.from('{}'), Buffer.from([0x80]), Buffer.alloc(509)])]) {
      expect(() => openText(k, seal(k, bytes, ad), ad, true)).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED', message: 'decryption failed' }));
    }
  });
});

describe('events sealed padded (key version 3)', () => {
  const place = { tenant: 'acme', session: 's-1', seq: 1, at: new Date('2026-01-02T03:04:05.678Z'), correlationId: 'c', prevHash: GENESIS_HASH };

  it('are as long as their padded size, whatever their content within it, and open to what was appended', () => {
    const k = key();
    const denied = sealEvent({ type: 'tool_result', callId: 'c1', output: { status: 'denied' } }, { ...place, dataKey: k });
    const approved = sealEvent(
      { type: 'tool_result', callId: 'c1', output: { status: 'approved', transfer: 'EUR 5,000.00 to DE89 3704 0044 0532 0130 00', reference: 'TX-2026-118842' } },
      { ...place, dataKey: k },
    );
    expect([denied.keyVersion, approved.keyVersion]).toEqual([SEAL_V3, SEAL_V3]);
    expect(denied.ciphertext.length).toBe(256 + 16);
    expect(approved.ciphertext.length).toBe(denied.ciphertext.length);
    expect(openEvent(approved, k).data).toEqual({ callId: 'c1', output: { status: 'approved', transfer: 'EUR 5,000.00 to DE89 3704 0044 0532 0130 00', reference: 'TX-2026-118842' } });
    // Unpadded (v2, for a rolling upgrade): as long as the content.
    const plain = sealEvent({ type: 'tool_result', callId: 'c1', output: { status: 'denied' } }, { ...place, dataKey: k, pad: false });
    expect(plain.keyVersion).toBe(SEAL_V2);
    expect(plain.ciphertext.length).toBe(Buffer.byteLength(JSON.stringify({ callId: 'c1', output: { status: 'denied' } })) + 16);
    expect(openEvent(plain, k).data).toEqual({ callId: 'c1', output: { status: 'denied' } });
  });

  it("do not open relabelled as unpadded (v2) with the chain recomputed, nor an unpadded one relabelled as padded: the key version is in the associated data", () => {
    const k = key();
    const padded = sealEvent({ type: 'task', task: 'assess water damage' }, { ...place, dataKey: k });
    const plain = sealEvent({ type: 'task', task: 'assess water damage' }, { ...place, dataKey: k, pad: false });
    for (const [row, to] of [
      [padded, SEAL_V2],
      [plain, SEAL_V3],
    ] as const) {
      const relabelled = { ...row, keyVersion: to };
      relabelled.hash = eventHash(GENESIS_HASH, relabelled);
      expect(() => openEvent(relabelled, k)).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
    }
  });

  it('refuses one a key holder sealed as v3 without the padding', () => {
    const k = key();
    const row = sealEvent({ type: 'task', task: 'x' }, { ...place, dataKey: k, pad: false });
    const forged = { ...row, keyVersion: SEAL_V3 };
    const sealed = withEventKeyInput(place.tenant, place.session, place.seq, (input) => {
      const eventKey = deriveKey(k, input);
      return withContentAadV2(forged, (aad) => seal(eventKey, Buffer.from('{"task":"x"}'), aad));
    });
    forged.nonce = sealed.nonce;
    forged.ciphertext = sealed.ciphertext;
    forged.hash = eventHash(GENESIS_HASH, forged);
    expect(() => openEvent(forged, k)).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED', message: 'decryption failed' }));
  });
});

describe('VAULT_PAD_CONTENT', () => {
  it('pads unless set to 0 (a rolling upgrade), and refuses any other value', () => {
    expect([{}, { VAULT_PAD_CONTENT: '' }, { VAULT_PAD_CONTENT: '1' }, { VAULT_PAD_CONTENT: '0' }].map((env) => vaultOptions(resolveConfig({}, env)).padContent)).toEqual([true, true, true, false]);
    for (const value of ['yes', 'false', 'off', ' 0']) {
      expect(() => resolveConfig({}, { VAULT_PAD_CONTENT: value })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: 'VAULT_PAD_CONTENT is 1 (pad sealed content, the default) or 0 (do not, for a rolling upgrade)' }));
    }
  });
});
