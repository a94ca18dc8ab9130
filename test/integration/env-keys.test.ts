import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backends, dropCreatedDatabases } from '../support/backends';
import { runCli } from '../support/cli';
import { ensureSodium, generateSigningKeyPair, signingKeyId, exposeSecretBytes } from '../../src/crypto';
import { EnvKeyProvider } from '../../src/keys';
import { openVault } from '../../src/vault';
import { createLogger } from '../../src/observability';

/** A master key (and signing key) from the environment: containers with no keyring file. */
afterAll(dropCreatedDatabases);
beforeAll(ensureSodium);

describe.each(backends())('a master key from the environment on $name', (backend) => {
  it('wraps and unwraps tenant keys with no keyring file, and names a wrong key as such', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-env-'));
    const database = await backend.database();
    const master = randomBytes(32).toString('base64');
    const kp = generateSigningKeyPair();
    const signer = { id: signingKeyId(kp.publicKey), ...kp };
    const quiet = createLogger({ level: 'silent' });
    const v = await openVault({ home, database, keyProvider: EnvKeyProvider.fromBase64(master), signer, logger: quiet });
    try {
      await v.createTenant('acme');
      await v.session('acme', 's').appendMany([{ type: 'task', task: 'x' }, { type: 'task', task: 'y' }]);
      const tasks = [];
      for await (const e of v.session('acme', 's').events()) tasks.push((e.data as { task: string }).task);
      expect(tasks).toEqual(['x', 'y']);
      expect(await v.verify()).toMatchObject({ ok: true });
      expect((await v.keys('acme'))[0]!.masterKeyId).toMatch(/^env:[0-9a-f]{16}$/);
      expect(existsSync(path.join(home, 'keyring.json'))).toBe(false);
      if (database !== 'memory://') {
        const other = await openVault({ home, database, keyProvider: EnvKeyProvider.fromBase64(randomBytes(32).toString('base64')), signer, logger: quiet });
        try {
          await expect(other.session('acme', 's').state()).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
        } finally {
          await other.close();
        }
      }
    } finally {
      await v.close();
      rmSync(home, { recursive: true, force: true });
    }
    expect(() => EnvKeyProvider.fromBase64('c2hvcnQ=')).toThrow(expect.objectContaining({ code: 'KEYRING_INVALID', message: 'VAULT_MASTER_KEY must be base64 of 32 bytes' }));
  });
});

describe('VAULT_MASTER_KEY and VAULT_SIGNING_KEY from the CLI', () => {
  it('runs with no keyring file, and never echoes a key in errors', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-env-cli-'));
    const kp = generateSigningKeyPair();
    const env = {
      VAULT_HOME: home,
      VAULT_ACTOR: 'ops',
      VAULT_MASTER_KEY: randomBytes(32).toString('base64'),
      VAULT_SIGNING_KEY: Buffer.from(exposeSecretBytes(kp.secretKey)).toString('base64'),
    };
    const run = (args: string[], extra: Record<string, string> = {}) => runCli({ ...env, ...extra }, args);
    try {
      expect((await run(['tenant', 'create', 'acme'])).code).toBe(0);
      expect((await run(['append', 'acme', 's', '--event', '{"type":"task","task":"x"}'])).code).toBe(0);
      expect((await run(['events', 'acme', 's'])).stdout).toContain('"task":"x"');
      expect((await run(['verify'])).code).toBe(0);
      expect(existsSync(path.join(home, 'keyring.json'))).toBe(false);
      const wrongKey = randomBytes(32).toString('base64');
      const wrong = await run(['events', 'acme', 's'], { VAULT_MASTER_KEY: wrongKey });
      expect(wrong.code).toBe(3);
      expect(wrong.stderr.trim()).toMatch(/^error\[KEY_NOT_FOUND\]/);
      const bad = await run(['events', 'acme', 's'], { VAULT_MASTER_KEY: 'not-a-key!' });
      expect(bad.code).toBe(3);
      expect(bad.stderr.trim()).toBe('error[KEYRING_INVALID]: VAULT_MASTER_KEY must be base64 of 32 bytes');
      for (const r of [wrong, bad]) {
        expect(r.stderr).not.toContain(env.VAULT_MASTER_KEY);
        expect(r.stderr).not.toContain(wrongKey);
        expect(r.stderr).not.toContain(env.VAULT_SIGNING_KEY);
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('`keys retire-signing` retires a VAULT_SIGNING_KEY deployed away, in the witness, and refuses what it cannot retire', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-env-retire-'));
    const [before, after] = [generateSigningKeyPair(), generateSigningKeyPair()];
    const secret = (kp: typeof before) => Buffer.from(exposeSecretBytes(kp.secretKey)).toString('base64');
    const env = { VAULT_HOME: home, VAULT_ACTOR: 'sec-officer', VAULT_MASTER_KEY: randomBytes(32).toString('base64'), VAULT_SIGNING_KEY: secret(before) };
    const run = (args: string[], extra: Record<string, string> = {}) => runCli({ ...env, ...extra }, args);
    const [oldId, newId] = [signingKeyId(before.publicKey), signingKeyId(after.publicKey)];
    const keysFile = path.join(home, 'witness', 'public-keys.json');
    try {
      expect((await run(['tenant', 'create', 'acme'])).code).toBe(0);
      expect((await run(['append', 'acme', 's', '--event', '{"type":"task","task":"x"}'])).code).toBe(0);
      // `keys rotate-signing` rotates the keyring's key only.
      const rotate = await run(['keys', 'rotate-signing']);
      expect([rotate.code, rotate.stderr.trim()]).toEqual([2, expect.stringMatching(/^error\[INVALID_CONFIG\]: the signing key comes from VAULT_SIGNING_KEY: set a new one there/)]);
      // Still the key it signs with.
      const own = await run(['keys', 'retire-signing', oldId]);
      expect([own.code, own.stderr.trim()]).toEqual([2, `error[INVALID_INPUT]: ${oldId} is the key this vault signs with: sign with another first`]);
      // The new key deployed; the old one retired.
      const withNew = { VAULT_SIGNING_KEY: secret(after) };
      expect((await run(['append', 'acme', 's', '--event', '{"type":"task","task":"y"}'], withNew)).code).toBe(0);
      const retired = await run(['keys', 'retire-signing', oldId, '--json', '--reason', 'VAULT_SIGNING_KEY rotated'], withNew);
      expect(retired.code).toBe(0);
      const { retiredAt } = JSON.parse(retired.stdout) as { retiredAt: string };
      const stated = (JSON.parse(readFileSync(keysFile, 'utf8')) as { keys: { id: string; retiredAt?: string }[] }).keys;
      expect(stated.map((k) => [k.id, k.retiredAt])).toEqual([
        [oldId, retiredAt],
        [newId, undefined],
      ]);
      expect((await run(['verify'], withNew)).code).toBe(0); // what it signed in its period still verifies
      const trail = await run(['access-log', '--json'], withNew);
      expect(trail.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.action.startsWith('keys.retire-signing')).map((r) => [r.action, r.outcome])).toEqual([
        [`keys.retire-signing:${oldId}`, 'granted'],
        [`keys.retire-signing:${oldId}`, 'failed:INVALID_INPUT'],
        [`keys.retire-signing:${oldId}`, 'granted'],
      ]);
      const file = readFileSync(keysFile, 'utf8');
      for (const [args, message] of [
        [['keys', 'retire-signing', 'ed25519:nothex'], 'error[INVALID_INPUT]: a signing key id is `ed25519:` and 16 hex digits'],
        [['keys', 'retire-signing', oldId, '--at', 'tomorrow'], 'error[INVALID_INPUT]: --at takes an ISO-8601 time, e.g. 2026-01-31T12:00:00Z'],
        [['keys', 'retire-signing', oldId, '--at', new Date(Date.now() + 3_600_000).toISOString()], 'error[INVALID_INPUT]: a signing key is retired now or at a time past'],
        [['keys', 'retire-signing', signingKeyId(generateSigningKeyPair().publicKey)], 'error[INVALID_INPUT]: the witness keeps no signing key'],
      ] as const) {
        const r = await run([...args], withNew);
        expect([r.code, r.stdout]).toEqual([2, '']);
        expect(r.stderr.trim()).toContain(message);
      }
      expect(readFileSync(keysFile, 'utf8')).toBe(file);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('`keys retire-signing` leaves a keyring key to `keys rotate-signing`', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-keyring-retire-'));
    const env = { VAULT_HOME: home, VAULT_ACTOR: 'sec-officer' };
    try {
      expect((await runCli(env, ['init'])).code).toBe(0);
      const { keys } = JSON.parse(readFileSync(path.join(home, 'witness', 'public-keys.json'), 'utf8')) as { keys: { id: string }[] };
      expect((await runCli(env, ['keys', 'rotate-signing'])).code).toBe(0);
      const r = await runCli(env, ['keys', 'retire-signing', keys[0]!.id]);
      expect([r.code, r.stderr.trim()]).toEqual([2, `error[INVALID_INPUT]: ${keys[0]!.id} is the keyring's: \`keys rotate-signing\` retires it`]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
