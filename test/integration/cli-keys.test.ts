import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backends, dropCreatedDatabases } from '../support/backends';
import { runCli } from '../support/cli';
import { softHsmToken } from '../support/softhsm';
import { ensureSodium, generateSigningKeyPair, exposeSecretBytes } from '../../src/crypto';

/**
 * Key custody from the CLI's settings: an HSM (SoftHSM2) holding the master key, `init`
 * writing no secret to disk, and `keys rotate-master` moving a keyring vault's tenant keys
 * into the token, after which the file opens nothing.
 */
afterAll(dropCreatedDatabases);

const hsm = softHsmToken();
const run = hsm ? describe : describe.skip;
const pg = backends().find((b) => b.name === 'postgres');

/** Every file under a folder, read whole (to look for secrets written to disk). */
function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile());
}

run('the CLI with the master key in an HSM', () => {
  const hsmEnv = () => ({ SOFTHSM2_CONF: process.env.SOFTHSM2_CONF!, VAULT_PKCS11_MODULE: hsm!.module, VAULT_PKCS11_TOKEN: hsm!.token, VAULT_PKCS11_PIN: hsm!.pin });

  it('init creates the master key in the token and, with VAULT_SIGNING_KEY, writes no keyring and no secret', async () => {
    await ensureSodium();
    const signing = generateSigningKeyPair();
    const signingB64 = Buffer.from(exposeSecretBytes(signing.secretKey)).toString('base64');
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-cli-hsm-'));
    const env = { ...hsmEnv(), VAULT_HOME: home, VAULT_SIGNING_KEY: signingB64, ...(pg ? { VAULT_DATABASE_URL: await pg.database() } : {}) };
    const init = await runCli(env, ['init']);
    expect(init.stderr).toBe('');
    expect(init.stdout).toMatch(/keys +pkcs11 \(master key created in the token\)/);
    expect(init.stdout).toMatch(/keyring +none/);
    expect(existsSync(path.join(home, 'keyring.json'))).toBe(false);
    expect((await runCli(env, ['tenant', 'create', 'bank'])).code).toBe(0);
    expect((await runCli(env, ['append', 'bank', 's1', '--event', JSON.stringify({ type: 'message', role: 'user', content: 'held by the HSM' })])).code).toBe(0);
    const events = await runCli(env, ['events', 'bank', 's1', '--json', '--actor', 'ops']);
    expect(JSON.parse(events.stdout.trim()).data.content).toBe('held by the HSM');
    expect((await runCli(env, ['verify'])).code).toBe(0);
    // Nothing written under the home holds the signing key (the only secret the CLI was given).
    const raw = Buffer.from(signingB64, 'base64');
    for (const f of allFiles(home)) {
      const content = readFileSync(f);
      expect(content.includes(raw)).toBe(false);
      expect(content.toString('latin1').includes(signingB64)).toBe(false);
    }
    // Without the token's settings, the vault has no master key to open anything with.
    const bare = await runCli({ VAULT_HOME: home, VAULT_SIGNING_KEY: signingB64, ...(pg ? { VAULT_DATABASE_URL: env.VAULT_DATABASE_URL! } : {}) }, ['events', 'bank', 's1', '--actor', 'ops']);
    expect(bare.code).toBe(3);
  }, 240_000);

  it('keys rotate-master moves a keyring vault into the token; the keyring then holds no master key', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-cli-move-'));
    const db: Record<string, string> = pg ? { VAULT_DATABASE_URL: await pg.database() } : {};
    const plain = { VAULT_HOME: home, ...db };
    expect((await runCli(plain, ['init'])).code).toBe(0);
    for (const t of ['alpha', 'beta']) {
      expect((await runCli(plain, ['tenant', 'create', t])).code).toBe(0);
      expect((await runCli(plain, ['append', t, 's', '--event', JSON.stringify({ type: 'task', task: `${t} task` })])).code).toBe(0);
    }
    const label = `moved-${randomBytes(3).toString('hex')}`;
    const inHsm = { ...plain, ...hsmEnv(), VAULT_PKCS11_KEY: label };
    // The master key must exist in the token first: init creates it (the vault is already current).
    expect((await runCli(inHsm, ['init'])).stdout).toMatch(/master key created in the token/);
    const moved = await runCli(inHsm, ['keys', 'rotate-master', '--json', '--actor', 'custodian', '--reason', 'to the HSM']);
    expect(moved.stderr).toBe('');
    // Two tenant keys and the release key `init` registered (0078): moved, master 1 is left unused and removed.
    expect(JSON.parse(moved.stdout)).toMatchObject({ primary: `pkcs11:${hsm!.token}/${label}`, rewrapped: 3, removed: [1] });
    expect(JSON.parse(readFileSync(path.join(home, 'keyring.json'), 'utf8'))).toMatchObject({ primaryMasterKey: null, masterKeys: [] });
    const events = await runCli(inHsm, ['events', 'beta', 's', '--json', '--actor', 'ops']);
    expect(JSON.parse(events.stdout.trim()).data.task).toBe('beta task');
    const fileOnly = await runCli(plain, ['events', 'beta', 's', '--actor', 'ops']);
    expect(fileOnly.code).toBe(3);
    expect(fileOnly.stderr).toMatch(/^error\[KEY_NOT_FOUND\]/);
  }, 240_000);
});

describe('the CLI with keys from the environment', () => {
  it('init writes no keyring when both the master and the signing key come from the environment', async () => {
    await ensureSodium();
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-cli-env-'));
    const signing = generateSigningKeyPair();
    const env = {
      VAULT_HOME: home,
      VAULT_MASTER_KEY: randomBytes(32).toString('base64'),
      VAULT_SIGNING_KEY: Buffer.from(exposeSecretBytes(signing.secretKey)).toString('base64'),
      ...(pg ? { VAULT_DATABASE_URL: await pg.database() } : {}),
    };
    const init = await runCli(env, ['init', '--json']);
    expect(JSON.parse(init.stdout)).toMatchObject({ keyring: null, keyProvider: 'env' });
    expect(existsSync(path.join(home, 'keyring.json'))).toBe(false);
    for (const f of allFiles(home)) expect(readFileSync(f).toString('latin1')).not.toContain(env.VAULT_MASTER_KEY);
  }, 120_000);
});
