import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { hmacPads, releaseMessage, releaseProof } from '../../src/crypto';

/**
 * The release proof (src/crypto/release-proof.ts): the database checks it with SHA-256
 * over the key's HMAC pads, so the pads must give HMAC-SHA-256 itself, and the message's
 * bytes are a format both sides keep (a golden vector).
 */
describe('release proof', () => {
  it('is HMAC-SHA-256 of the prefix, the ids\' SHA-256, the head (8 bytes) and the digest (golden vector)', () => {
    const subject = { tenant: 'bank', session: 'claim-7', headSeq: 42, digest: Buffer.from('00112233', 'hex') };
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(releaseMessage(subject).toString('hex')).toBe(Buffer.from('session-vault/release/v1').toString('hex') + sha('bank') + sha('claim-7') + '000000000000002a' + '00112233');
    expect(Buffer.from(releaseProof(Buffer.alloc(32, 7), subject)).toString('hex')).toBe('8de02886c292375b59661fcc64e545ae93b2364d2cef0c9d67c2e4bbc9e0918f');
  });

  it('the pads give the HMAC: SHA-256(outer ‖ SHA-256(inner ‖ m)), for any key up to a block and any message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.uint8Array({ maxLength: 300 }), (key, message) => {
        const { inner, outer } = hmacPads(key);
        const viaPads = createHash('sha256').update(outer).update(createHash('sha256').update(inner).update(message).digest()).digest('hex');
        expect(viaPads).toBe(createHmac('sha256', key).update(message).digest('hex'));
      }),
      { numRuns: 300 },
    );
    expect(() => hmacPads(new Uint8Array(65))).toThrow(RangeError);
  });

  it('no two subjects share a message: the ids are hashed to fixed lengths, so they cannot run together', () => {
    const a = releaseMessage({ tenant: 'ab', session: 'c', headSeq: 1, digest: new Uint8Array([1]) });
    const b = releaseMessage({ tenant: 'a', session: 'bc', headSeq: 1, digest: new Uint8Array([1]) });
    expect(a.equals(b)).toBe(false);
    expect(a.length).toBe(b.length);
  });
});
