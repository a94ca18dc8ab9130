import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { ensureSodium } from '../../src/crypto';
import { createKeyringFile } from '../../src/keys';
import { openVault, type Vault, type VaultOptions } from '../../src/vault';
import { createLogger } from '../../src/observability';

/** A backend the integration suites run against. */
export interface Backend {
  name: 'pglite' | 'postgres';
  /** A fresh, empty database URL for one test file. */
  database(): Promise<string>;
}

const pglite: Backend = { name: 'pglite', database: async () => 'memory://' };

const created: string[] = [];

const postgres: Backend = {
  name: 'postgres',
  async database() {
    const admin = adminUrl();
    const name = `sv_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    const c = new Client({ connectionString: admin });
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
    await c.end();
    created.push(name);
    const u = new URL(admin);
    u.pathname = `/${name}`;
    return u.toString();
  },
};

export function adminUrl(): string {
  const url = process.env.VAULT_TEST_DATABASE_URL;
  if (!url) throw new Error('VAULT_TEST_DATABASE_URL is not set');
  return url;
}

/**
 * The PASSWORD clause for a login a test creates: the admin URL's password, so that the
 * admin URL with only its user name changed connects as the login. The embedded server
 * checks passwords; CI's server trusts, and its URL has none.
 */
export function adminPassword(): string {
  const password = decodeURIComponent(new URL(adminUrl()).password);
  return password ? `PASSWORD '${password.replace(/'/g, "''")}'` : '';
}

/**
 * The backends to run: both, unless the Postgres one could not be had outside CI, in
 * which case this says why on stderr (global-setup fails the run under CI instead).
 */
export function backends(): Backend[] {
  if (process.env.VAULT_TEST_PG_SKIP_REASON) {
    process.stderr.write(`[${path.basename(expect.getState().testPath ?? 'suite')}] Postgres backend skipped: ${process.env.VAULT_TEST_PG_SKIP_REASON}\n`);
    return [pglite];
  }
  return [pglite, postgres];
}

/** Drops the databases this worker created. */
export async function dropCreatedDatabases(): Promise<void> {
  if (created.length === 0) return;
  const c = new Client({ connectionString: adminUrl() });
  await c.connect();
  for (const name of created.splice(0)) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.end();
}

/** A temporary home folder with a fresh keyring. */
export async function tempHome(): Promise<{ home: string; keyring: string; cleanup(): void }> {
  await ensureSodium();
  const home = mkdtempSync(path.join(os.tmpdir(), 'sv-home-'));
  const keyring = path.join(home, 'keyring.json');
  await createKeyringFile(keyring, new Date());
  return { home, keyring, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

/** A vault on a fresh database of `backend`, with a fresh keyring, quiet logs. */
export async function testVault(
  backend: Backend,
  extra: Partial<VaultOptions> = {},
): Promise<{ vault: Vault; url: string; home: string; keyring: string; close(): Promise<void> }> {
  const h = await tempHome();
  const url = await backend.database();
  const vault = await openVault({ home: h.home, database: url, logger: createLogger({ level: 'silent' }), ...extra });
  return {
    vault,
    url,
    home: h.home,
    keyring: h.keyring,
    async close() {
      await vault.close();
      h.cleanup();
    },
  };
}
