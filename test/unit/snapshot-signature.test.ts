import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import { ensureSodium, SecretBytes, signingKeyId } from '../../src/crypto';
import { signSnapshot, snapshotBody, snapshotSigned, type CheckpointSigner, type SnapshotPlace } from '../../src/audit';

/**
 * Signed snapshots (audit/snapshot-signature.ts): the body (its digest computed with
 * Python's hashlib, not libsodium), and every field bound, so that whoever holds a
 * session's data key cannot have a state of their own started from.
 */
let signer: CheckpointSigner;
const snap: SnapshotPlace = {
  tenant: 'acme',
  session: 's-1',
  seq: 7,
  at: new Date(1_700_000_000_000),
  headHash: new Uint8Array(32).fill(0x33),
  keyVersion: 1,
  nonce: new Uint8Array(24).fill(0x11),
  ciphertext: new Uint8Array(40).fill(0x22),
};

beforeAll(async () => {
  await ensureSodium();
  const kp = sodium.crypto_sign_seed_keypair(new Uint8Array(32).fill(1));
  signer = { id: signingKeyId(kp.publicKey), publicKey: kp.publicKey, secretKey: SecretBytes.adopt(kp.privateKey) };
});
const trusted = () => new Map([[signer.id, signer.publicKey]]);

describe('snapshot signatures', () => {
  it('sign a body that names the place and digests the sealed bytes', () => {
    expect(snapshotBody(snap)).toBe(
      'session-vault/v1/snapshot/acme/s-1\n7\n1700000000000\nMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=\nsealed 1 hnppBRbJGyZEVueL9rqQHpRlPmLaN0LxpmT0ZxQSj2w=\n',
    );
    expect(snapshotSigned(snap, signSnapshot(snap, signer), trusted())).toBe(true);
  });

  it('fail for a missing signature or an untrusted key', () => {
    expect(snapshotSigned(snap, { keyId: null, signature: null }, trusted())).toBe(false);
    expect(snapshotSigned(snap, signSnapshot(snap, signer), new Map())).toBe(false);
  });

  it('fail once any field or byte is changed (property)', () => {
    const signed = signSnapshot(snap, signer);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constant({ tenant: 'acme2' }),
          fc.constant({ session: 's-2' }),
          fc.integer({ min: 1, max: 20 }).filter((n) => n !== 7).map((seq) => ({ seq })),
          fc.constant({ at: new Date(1_700_000_000_001) }),
          fc.integer({ min: 0, max: 31 }).map((i) => ({ headHash: flip(snap.headHash, i) })),
          fc.constant({ keyVersion: 2 }),
          fc.integer({ min: 0, max: 23 }).map((i) => ({ nonce: flip(snap.nonce, i) })),
          fc.integer({ min: 0, max: 39 }).map((i) => ({ ciphertext: flip(snap.ciphertext, i) })),
        ),
        (change) => !snapshotSigned({ ...snap, ...change }, signed, trusted()),
      ),
    );
  });
});

function flip(b: Uint8Array, i: number): Uint8Array {
  const c = new Uint8Array(b);
  c[i] = c[i]! ^ 1;
  return c;
}
