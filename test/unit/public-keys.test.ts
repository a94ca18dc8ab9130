import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObjectWitness, parseTrustedKeys } from '../../src/audit';
import { ensureSodium, generateSigningKeyPair, signingKeyId } from '../../src/crypto';
import { FolderObjectStore } from '../../src/objects';
import { storeOver } from '../support/objects';

/**
 * The public keys document (audit/public-keys.ts): the witness keeps each key's period
 * beside it, writing a period's ends once; an auditor's copy is taken whole or not at all.
 */
let dir: string;
beforeAll(ensureSodium);
beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'sv-keys-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const keyPair = () => {
  const kp = generateSigningKeyPair();
  kp.secretKey.dispose();
  return { id: signingKeyId(kp.publicKey), publicKey: kp.publicKey, b64: Buffer.from(kp.publicKey).toString('base64') };
};
const t = (iso: string) => new Date(iso);

describe('the witness keeps each key with its period', () => {
  it('fills in the periods of keys it kept without them; a creation stated stays, a retirement only moves earlier', async () => {
    const [a, b] = [keyPair(), keyPair()];
    // A witness from before the periods were kept.
    writeFileSync(path.join(dir, 'public-keys.json'), JSON.stringify({ keys: [{ id: a.id, publicKey: a.b64 }] }));
    const witness = new ObjectWitness(new FolderObjectStore(dir, 'witness'));
    expect(await witness.keyPeriods()).toEqual(new Map());

    await witness.addPublicKeys(new Map([[b.id, b.publicKey]]), new Map([
      [a.id, { from: t('2026-01-01T00:00:00.000Z'), until: t('2026-06-01T00:00:00.000Z') }],
      [b.id, { from: t('2026-06-01T00:00:00.000Z'), until: null }],
    ]));
    expect(await witness.keyPeriods()).toEqual(new Map([
      [a.id, { from: t('2026-01-01T00:00:00.000Z'), until: t('2026-06-01T00:00:00.000Z') }],
      [b.id, { from: t('2026-06-01T00:00:00.000Z'), until: null }],
    ]));

    // A later writer with another story (a keyring put back from before the rotation, another host's clock): no key comes back.
    await witness.addPublicKeys(new Map([[a.id, a.publicKey]]), new Map([
      [a.id, { from: t('2025-01-01T00:00:00.000Z'), until: t('2027-01-01T00:00:00.000Z') }],
      [b.id, { from: t('2026-06-01T00:00:00.000Z'), until: t('2026-12-01T00:00:00.000Z') }],
    ]));
    expect(await witness.keyPeriods()).toEqual(new Map([
      [a.id, { from: t('2026-01-01T00:00:00.000Z'), until: t('2026-06-01T00:00:00.000Z') }],
      [b.id, { from: t('2026-06-01T00:00:00.000Z'), until: t('2026-12-01T00:00:00.000Z') }],
    ]));
    expect([...(await witness.publicKeys()).keys()]).toEqual([a.id, b.id]);
    // Earlier (the key found to have leaked before): the retirement moves; a key it does not keep is not retired.
    expect(await witness.retireKey(a.id, t('2026-05-01T00:00:00.000Z'))).toEqual(t('2026-05-01T00:00:00.000Z'));
    expect(await witness.retireKey(a.id, t('2026-05-02T00:00:00.000Z'))).toEqual(t('2026-05-01T00:00:00.000Z'));
    expect(await witness.retireKey(keyPair().id, t('2026-05-01T00:00:00.000Z'))).toBeNull();
    expect((await witness.keyPeriods()).get(a.id)).toEqual({ from: t('2026-01-01T00:00:00.000Z'), until: t('2026-05-01T00:00:00.000Z') });
    // And the file is what an auditor pins: the same keys, the same periods.
    const pinned = parseTrustedKeys(readFileSync(path.join(dir, 'public-keys.json'), 'utf8'), 'public-keys.json');
    expect(pinned.periods).toEqual(await witness.keyPeriods());
    expect(pinned.keys).toEqual(await witness.publicKeys());
  });

  it('a key with only its creation is open-ended; one with only its retirement is bounded from the start of time', async () => {
    const [a, b, c] = [keyPair(), keyPair(), keyPair()];
    const doc = { keys: [{ id: a.id, publicKey: a.b64, createdAt: '2026-01-01T00:00:00.000Z' }, { id: b.id, publicKey: b.b64, retiredAt: '2026-02-01T00:00:00.000Z' }, { id: c.id, publicKey: c.b64 }] };
    expect(parseTrustedKeys(JSON.stringify(doc), 'k').periods).toEqual(new Map([
      [a.id, { from: t('2026-01-01T00:00:00.000Z'), until: null }],
      [b.id, { from: new Date(0), until: t('2026-02-01T00:00:00.000Z') }],
    ]));
  });
});

describe('a retirement and a publication at the same moment', () => {
  it('a process of the version before, publishing a new key, writes the file as it read it before the retirement (unconditionally): the retirement is read back and stated again', async () => {
    const [a, b] = [keyPair(), keyPair()];
    const folder = new FolderObjectStore(dir, 'witness');
    const first = new ObjectWitness(folder);
    await first.addPublicKeys(new Map([[a.id, a.publicKey]]), new Map([[a.id, { from: t('2026-01-01T00:00:00.000Z'), until: null }]]));
    // The publisher read the file before the retirement was written, and writes it (with its new key) just after.
    const stale = readFileSync(path.join(dir, 'public-keys.json'));
    let raced = false;
    const racing = storeOver(folder, {
      async putIfVersion(name, body, version) {
        const written = await folder.putIfVersion(name, body, version);
        if (written && name === 'public-keys.json' && !raced) {
          raced = true;
          const doc = JSON.parse(stale.toString('utf8')) as { keys: object[] };
          doc.keys.push({ id: b.id, publicKey: b.b64, createdAt: '2026-06-01T00:00:00.000Z' });
          await folder.put(name, new Uint8Array(Buffer.from(JSON.stringify(doc))));
        }
        return written;
      },
    });
    const at = t('2026-06-01T00:05:00.000Z');
    expect(await new ObjectWitness(racing, 0).retireKey(a.id, at)).toEqual(at);
    expect(raced).toBe(true);
    expect(await first.keyPeriods()).toEqual(new Map([
      [a.id, { from: t('2026-01-01T00:00:00.000Z'), until: at }],
      [b.id, { from: t('2026-06-01T00:00:00.000Z'), until: null }],
    ]));
  });

  it('a retirement that never stays written is an error, not a success', async () => {
    const a = keyPair();
    const folder = new FolderObjectStore(dir, 'witness');
    await new ObjectWitness(folder).addPublicKeys(new Map([[a.id, a.publicKey]]));
    const lost = storeOver(folder, { put: async () => undefined, putIfVersion: async () => true });
    await expect(new ObjectWitness(lost, 0).retireKey(a.id, t('2026-06-01T00:00:00.000Z'))).rejects.toMatchObject({ code: 'STORAGE_REFUSED', message: expect.stringContaining(`the retirement of ${a.id} does not stay written`) });
  });
});

describe("an auditor's keys file", () => {
  it.each([
    ['a key that is not base64 of 32 bytes', (k: ReturnType<typeof keyPair>) => ({ keys: [{ id: k.id, publicKey: k.b64.slice(4) }] }), 'key 1 is not a base64 Ed25519 public key'],
    ['a retirement that is not a time', (k: ReturnType<typeof keyPair>) => ({ keys: [{ id: k.id, publicKey: k.b64, retiredAt: 'yesterday' }] }), 'not a public keys document'],
    ['a field it does not know', (k: ReturnType<typeof keyPair>) => ({ keys: [{ id: k.id, publicKey: k.b64, trusted: true }] }), 'not a public keys document'],
    ['a second key under the first one’s id', (k: ReturnType<typeof keyPair>) => ({ keys: [{ id: k.id, publicKey: k.b64 }, { id: k.id, publicKey: keyPair().b64 }] }), `key 2 is not the key its id (`],
  ])('is refused whole for %s', (_label, doc, message) => {
    expect(() => parseTrustedKeys(JSON.stringify(doc(keyPair())), 'keys.json')).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining(`keys.json: ${message}`) }));
  });
});
