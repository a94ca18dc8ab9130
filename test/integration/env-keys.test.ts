import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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
});
