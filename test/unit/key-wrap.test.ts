import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import { ensureSodium, SecretBytes, signingKeyId } from '../../src/crypto';
import { signWrap, wrapBody, wrapSigned, type CheckpointSigner, type WrapSubject } from '../../src/audit';

/** Signed key wraps (audit/key-wrap.ts): the known-answer vector in docs/formats.md, and every field bound. */
let signer: CheckpointSigner;
const session: WrapSubject = { kind: 'session', tenant: 'acme', session: 's-1', dataKeyVersion: 1, tenantKeyVersion: 2 };
const tenantKey: WrapSubject = { kind: 'tenant', tenant: 'acme', version: 2, masterKeyId: 'local:1' };
const wrapped = new Uint8Array(72).fill(0xab);

beforeAll(async () => {
  await ensureSodium();
  const kp = sodium.crypto_sign_seed_keypair(new Uint8Array(32).fill(1));
  signer = { id: signingKeyId(kp.publicKey), publicKey: kp.publicKey, secretKey: SecretBytes.adopt(kp.privateKey) };
});
const trusted = () => new Map([[signer.id, signer.publicKey]]);
const stored = (s: WrapSubject, seq: number, bytes: Uint8Array) => {
  const w = signWrap(s, seq, bytes, signer);
  return { seq: w.seq, keyId: w.keyId, signature: w.signature };
};

describe('key wrap signatures', () => {
  it('match the known-answer vectors in docs/formats.md', () => {
    expect(wrapBody(session, 3, wrapped)).toBe('session-vault/v1/data-key/acme/s-1\n3\ndata-key 1 tenant-key 2\nu7MLb0DJ9doPD5dfI/8ZAunn1/v5MKuNm8D2t6uGrl8=\n');
    expect(wrapBody(tenantKey, 1, wrapped)).toBe('session-vault/v1/tenant-key/acme/2\n1\nmaster local:1\nu7MLb0DJ9doPD5dfI/8ZAunn1/v5MKuNm8D2t6uGrl8=\n');
    expect(Buffer.from(signWrap(session, 3, wrapped, signer).signature).toString('base64')).toBe(SESSION_SIGNATURE);
  });

  it('verify with the public key alone, also when an HSM signs', () => {
    expect(wrapSigned(session, wrapped, stored(session, 3, wrapped), trusted())).toBe(true);
    const hsm: CheckpointSigner = { id: signer.id, publicKey: signer.publicKey, sign: (m) => sodium.crypto_sign_detached(m, sodium.crypto_sign_seed_keypair(new Uint8Array(32).fill(1)).privateKey) };
    const w = signWrap(tenantKey, 1, wrapped, hsm);
    expect(wrapSigned(tenantKey, wrapped, w, trusted())).toBe(true);
  });

  it('fail for a missing signature, an untrusted key, or a master key id that is not one line', () => {
    expect(wrapSigned(session, wrapped, { seq: 3, keyId: null, signature: null }, trusted())).toBe(false);
    expect(wrapSigned(session, wrapped, { seq: null, keyId: signer.id, signature: new Uint8Array(64) }, trusted())).toBe(false);
    expect(wrapSigned(session, wrapped, stored(session, 3, wrapped), new Map())).toBe(false);
    const forged: WrapSubject = { kind: 'tenant', tenant: 'acme', version: 2, masterKeyId: 'local:1\n3' };
    expect(wrapSigned(forged, wrapped, { seq: 1, keyId: signer.id, signature: new Uint8Array(64) }, trusted())).toBe(false);
    expect(() => wrapBody(forged, 1, wrapped)).toThrow(RangeError);
  });

  it('bind every field: any change to the subject, the seq or a byte of the wrap fails', () => {
    const base = stored(session, 3, wrapped);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.record({ tenant: fc.constantFrom('acme', 'acme2') }),
          fc.record({ session: fc.constantFrom('s-1', 's-2') }),
          fc.record({ dataKeyVersion: fc.integer({ min: 1, max: 3 }) }),
          fc.record({ tenantKeyVersion: fc.integer({ min: 1, max: 3 }) }),
        ),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: -1, max: 71 }),
        (change, seq, flip) => {
          const subject = { ...session, ...change } as WrapSubject;
          const bytes = new Uint8Array(wrapped);
          if (flip >= 0) bytes[flip]! ^= 1;
          const same = JSON.stringify(subject) === JSON.stringify(session) && seq === 3 && flip < 0;
          expect(wrapSigned(subject, bytes, { ...base, seq }, trusted())).toBe(same);
        },
      ),
    );
    // A session's wrap signature is not a tenant key version's, nor the other way round.
    const t = stored(tenantKey, 3, wrapped);
    expect(wrapSigned(session, wrapped, t, trusted())).toBe(false);
    expect(wrapSigned(tenantKey, wrapped, base, trusted())).toBe(false);
  });
});

/** Computed with Python's hashlib (the digest) and Node's OpenSSL Ed25519 (the signature), not with libsodium. */
const SESSION_SIGNATURE = 'L7bKk5x1pGa7TmXA856JGxrhNn3i+WCgCDdRtlALMSNEd1ZITbptS7qhaTnl/TFnHRceUx5h/pnnuwDqNckvAg==';
