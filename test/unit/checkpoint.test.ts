import sodium from 'libsodium-wrappers';
import { ensureSodium, SecretBytes, signingKeyId, generateSigningKeyPair } from '../../src/crypto';
import { signCheckpoint, verifyCheckpoint, parseCheckpoint, type CheckpointSigner } from '../../src/audit';

/** Signed checkpoints (C2SP signed note): a known-answer vector and every way one can be wrong. */
let signer: CheckpointSigner;
const head = { tenant: 'acme', session: 's-1', seq: 42, hash: new Uint8Array(32).fill(0xab), time: new Date('2026-01-02T03:04:05.678Z') };
const NOTE =
  'session-vault/v1/acme/s-1\n42\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\ntime 2026-01-02T03:04:05.678Z\n\n' +
  '\u2014 ed25519:b5239a589cbf39a5 hwDni6C/UbZy7w7M3Lbxm7523Vj17zxfZOhSn05YjXiwNxqObqd9OIBwT4hnVy/5s+CwT5wgK59g0tcZljoBf8Ov1wg=\n';

beforeAll(async () => {
  await ensureSodium();
  const kp = sodium.crypto_sign_seed_keypair(new Uint8Array(32).fill(1)); // Ed25519 is deterministic
  signer = { id: signingKeyId(kp.publicKey), publicKey: kp.publicKey, secretKey: SecretBytes.adopt(kp.privateKey) };
});
const trusted = () => new Map([[signer.id, signer.publicKey]]);

describe('checkpoint notes', () => {
  it('match the known-answer vector in docs/formats.md', () => {
    expect(signer.id).toBe('ed25519:b5239a589cbf39a5');
    expect(signCheckpoint(head, signer)).toBe(NOTE);
  });

  it('verify with the public key alone', () => {
    const v = verifyCheckpoint(NOTE, trusted());
    expect(v).toEqual({ checkpoint: head, keyId: signer.id });
  });

  it.each([
    ['another origin', NOTE.replace('acme/s-1', 'acme/s-2'), 'bad_checkpoint_signature'],
    ['another seq', NOTE.replace('\n42\n', '\n41\n'), 'bad_checkpoint_signature'],
    ['another hash', NOTE.replace('q6urq6ur', 'q6urq6us'), 'bad_checkpoint_signature'],
    ['another time', NOTE.replace('05.678Z', '05.679Z'), 'bad_checkpoint_signature'],
    ['a flipped signature bit', NOTE.replace('hwDni6C', 'hwDni6D'), 'bad_checkpoint_signature'],
    ['a wrong key hash', NOTE.replace('hwDni6C', 'AAAAA6C'), 'bad_checkpoint_signature'],
    ['no signature line', NOTE.slice(0, NOTE.indexOf('\n\n') + 2), 'malformed_checkpoint'],
    ['a body that is not a checkpoint', 'hello\n\n\u2014 x AAAA\n', 'malformed_checkpoint'],
    ['an impossible time', NOTE.replace('2026-01-02', '2026-02-31'), 'malformed_checkpoint'],
  ])('reject %s', (_label, note, problem) => {
    expect(verifyCheckpoint(note, trusted())).toBe(problem);
  });

  it('reject a note signed by a key that is not trusted', () => {
    const other = generateSigningKeyPair();
    const forged = signCheckpoint(head, { id: signingKeyId(other.publicKey), ...other });
    expect(verifyCheckpoint(forged, trusted())).toBe('untrusted_checkpoint_key');
    // …even when the forger names the trusted key's id on their signature line.
    const impersonating = signCheckpoint(head, { id: signer.id, publicKey: signer.publicKey, secretKey: other.secretKey });
    expect(verifyCheckpoint(impersonating, trusted())).toBe('bad_checkpoint_signature');
  });

  it('parse back exactly what was signed', () => {
    expect(parseCheckpoint(NOTE)?.checkpoint).toEqual(head);
  });
});
