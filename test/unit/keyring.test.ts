import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import lockfile from 'proper-lockfile';
import { ensureSodium, generateKey, SecretBytes } from '../../src/crypto';
import { createKeyringFile, readKeyringDocument, readKeyringFile, LocalKeyProvider, updateKeyringFile, withNewSigningKey } from '../../src/keys';

let dir: string;
let file: string;
beforeAll(ensureSodium);
beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'sv-keyring-'));
  file = path.join(dir, 'keyring.json');
  await createKeyringFile(file, new Date('2026-01-01T00:00:00Z'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const refuses = (code: string, message: RegExp) => expect(readKeyringFile(file)).rejects.toMatchObject({ code, message: expect.stringMatching(message) });

describe('keyring file', () => {
  it('is created with mode 0600 and loads', async () => {
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const k = await readKeyringFile(file);
    expect(k.masterKeys.size).toBe(1);
    expect(k.signingKeys.get(k.primarySigningKey)?.publicKey).toHaveLength(32);
  });

  it('is never overwritten by a second create', async () => {
    const before = readFileSync(file, 'utf8');
    expect(await createKeyringFile(file, new Date())).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('is refused when readable by group or others', async () => {
    chmodSync(file, 0o644);
    await refuses('KEYRING_INSECURE', /mode 644.*chmod 600/);
  });

  it('is refused through a symlink', async () => {
    const link = path.join(dir, 'link.json');
    symlinkSync(file, link);
    await expect(readKeyringFile(link)).rejects.toMatchObject({ code: 'KEYRING_INSECURE', message: expect.stringMatching(/symlink/) });
  });

  it('is refused when missing, and not created', async () => {
    rmSync(file);
    await refuses('KEYRING_MISSING', /no keyring.*session-vault init/);
    expect(() => statSync(file)).toThrow();
  });

  it('is refused when truncated', async () => {
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, text.length / 2), { mode: 0o600 });
    await refuses('KEYRING_INVALID', /not valid JSON/);
  });

  it('is refused when a key has the wrong length, naming the field and not the value', async () => {
    const json = JSON.parse(readFileSync(file, 'utf8'));
    const secret = json.masterKeys[0].key;
    json.masterKeys[0].key = Buffer.alloc(16).toString('base64');
    writeFileSync(file, JSON.stringify(json), { mode: 0o600 });
    await expect(readKeyringFile(file)).rejects.toMatchObject({ code: 'KEYRING_INVALID', message: expect.stringMatching(/masterKeys\.0\.key: expected 32 bytes/) });
    await readKeyringFile(file).catch((e: Error) => expect(e.message).not.toContain(secret));
  });

  it('is refused when the signing key halves do not belong together', async () => {
    const json = JSON.parse(readFileSync(file, 'utf8'));
    json.signingKeys[0].publicKey = Buffer.alloc(32, 1).toString('base64');
    writeFileSync(file, JSON.stringify(json), { mode: 0o600 });
    await refuses('KEYRING_INVALID', /does not match/);
  });

  it('matches the documented example format (keys.example)', async () => {
    const example = path.join(__dirname, '..', '..', 'keys.example');
    const json = JSON.parse(readFileSync(example, 'utf8'));
    const { keyringFileSchema } = await import('../../src/keys');
    expect(keyringFileSchema.safeParse(json).success).toBe(true);
  });
});

describe('master key wrapping', () => {
  it('unwraps what it wrapped, and refuses another tenant, version or keyring', async () => {
    const provider = new LocalKeyProvider(await readKeyringFile(file));
    const key = generateKey();
    const { masterKeyId, wrapped } = await provider.wrapTenantKey({ tenant: 'a', version: 1 }, key);
    expect(masterKeyId).toBe('local:1');
    await expect(provider.unwrapTenantKey({ tenant: 'a', version: 1 }, masterKeyId, wrapped)).resolves.toBeInstanceOf(SecretBytes);
    await expect(provider.unwrapTenantKey({ tenant: 'b', version: 1 }, masterKeyId, wrapped)).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    await expect(provider.unwrapTenantKey({ tenant: 'a', version: 2 }, masterKeyId, wrapped)).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    const other = path.join(dir, 'other.json');
    await createKeyringFile(other, new Date());
    const otherProvider = new LocalKeyProvider(await readKeyringFile(other));
    await expect(otherProvider.unwrapTenantKey({ tenant: 'a', version: 1 }, masterKeyId, wrapped)).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
  });
});

describe('SecretBytes', () => {
  it('never shows its bytes in strings, JSON or inspection, and zeroes on dispose', () => {
    const raw = new Uint8Array(32).fill(0xab);
    const s = SecretBytes.adopt(raw);
    for (const shown of [String(s), JSON.stringify({ s }), inspect(s), inspect({ nested: s })]) {
      expect(shown).not.toMatch(/ab|171/);
      expect(shown).toContain('SecretBytes');
    }
    s.dispose();
    expect(raw.every((b) => b === 0)).toBe(true);
    expect(s.disposed).toBe(true);
  });
});

describe('changing the keyring file', () => {
  it('keeps every change of several made at once: each reads and replaces the file under its lock', async () => {
    await Promise.all(Array.from({ length: 8 }, (_, i) => updateKeyringFile(file, (doc) => withNewSigningKey(doc, new Date(Date.UTC(2026, 11, 7, 1, i))).doc)));
    const doc = await readKeyringDocument(file);
    expect(doc.signingKeys).toHaveLength(9);
    expect(doc.signingKeys.filter((k) => k.retiredAt === undefined).map((k) => k.id)).toEqual([doc.primarySigningKey]);
    expect(readdirSync(dir).sort()).toEqual(['keyring.json', 'keyring.json.previous']); // no lock or temporary file left
  });

  it('says a keyring in a folder that is not there is missing, and one beside which no lock can be made cannot be locked', async () => {
    await expect(updateKeyringFile(path.join(dir, 'gone', 'keyring.json'), (doc) => doc)).rejects.toMatchObject({ code: 'KEYRING_MISSING' });
    // A stale lock that cannot be taken over (a folder with something in it): the lock cannot be had.
    const lock = path.join(dir, '.keyring.json.lock');
    mkdirSync(path.join(lock, 'left-behind'), { recursive: true });
    const minuteAgo = new Date(Date.now() - 60_000);
    utimesSync(lock, minuteAgo, minuteAgo);
    const before = readFileSync(file);
    await expect(updateKeyringFile(file, (doc) => withNewSigningKey(doc, new Date()).doc, 200)).rejects.toMatchObject({ code: 'KEY_UNAVAILABLE', message: `cannot lock the keyring ${file} (ENOTEMPTY)` });
    expect(readFileSync(file)).toEqual(before);
  });

  it('gives up typed while another command holds the keyring, having changed nothing', async () => {
    const before = readFileSync(file);
    const release = await lockfile.lock(file, { lockfilePath: path.join(dir, '.keyring.json.lock'), realpath: false, stale: 10_000, update: 2_000 });
    try {
      let called = false;
      await expect(updateKeyringFile(file, (doc) => ((called = true), withNewSigningKey(doc, new Date()).doc), 200)).rejects.toMatchObject({
        code: 'KEY_UNAVAILABLE',
        message: `the keyring ${file} is being changed by another command (it held ${path.join(dir, '.keyring.json.lock')} for 0.2 s)`,
      });
      expect(called).toBe(false);
      expect(readFileSync(file)).toEqual(before);
    } finally {
      await release();
    }
  });
});
