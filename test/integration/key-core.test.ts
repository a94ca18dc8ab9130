import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { backends, dropCreatedDatabases } from '../support/backends';
import { softHsmToken } from '../support/softhsm';
import { ensureSodium, exposeSecretBytes } from '../../src/crypto';
import { Pkcs11KeyProvider, dataKeyAad, unwrapKey } from '../../src/keys';

/**
 * A core file forced from a process using the vault holds no tenant or session key: the
 * process keeps them in sodium_malloc memory (guard pages, MADV_DONTDUMP), and zeroes
 * every transient copy. The master key is in the token. A marker the process keeps in
 * ordinary memory is found in the same core, so the core is a real one.
 */
afterAll(dropCreatedDatabases);

const WORKER = path.join(__dirname, '..', 'support', 'core-worker.js');
const hsm = softHsmToken();

(hsm ? it : it.skip)('no tenant or session key is in a core file of a process using them', async () => {
  await ensureSodium();
  const pg = backends().find((b) => b.name === 'postgres');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sv-core-'));
  const database = pg ? await pg.database() : '-';
  const marker = randomBytes(32).toString('hex');
  const env = { PATH: process.env.PATH ?? '', SOFTHSM2_CONF: process.env.SOFTHSM2_CONF!, PKCS11_MODULE: hsm!.module, PKCS11_TOKEN: hsm!.token, PKCS11_PIN: hsm!.pin };
  const r = spawnSync('bash', ['-c', `ulimit -c unlimited && cd "$1" && exec "$2" "$3" "$4" "$5" "$6"`, 'core', dir, process.execPath, WORKER, path.join(dir, 'home'), database, marker], {
    env,
    encoding: 'utf8',
    timeout: 180_000,
  });
  expect(r.stdout.trim()).toBe('aborting');
  const coreFile = readdirSync(dir).find((f) => /^core(\.\d+)?$/.test(f));
  if (!coreFile) throw new Error(`no core file was written (kernel.core_pattern is ${readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim()})`);
  const core = readFileSync(path.join(dir, coreFile));
  expect(core.includes(Buffer.from(marker, 'hex'))).toBe(true);

  // The keys the process held, unwrapped here from what it stored (the tenant key through the token).
  const rows = async (q: string) => {
    if (pg) {
      const c = new Client({ connectionString: database, options: '-c search_path=session_vault' });
      await c.connect();
      try {
        return (await c.query(q)).rows;
      } finally {
        await c.end();
      }
    }
    const db = new PGlite(path.join(dir, 'home', 'db'));
    try {
      return (await db.query(q)).rows as Record<string, unknown>[];
    } finally {
      await db.close();
    }
  };
  const [tk] = await rows(`SELECT wrapped_key, master_key_id FROM session_vault.tenant_keys WHERE tenant_id = 'bank'`);
  const [sk] = await rows(`SELECT wrapped_data_key, data_key_version, tenant_key_version FROM session_vault.sessions WHERE tenant_id = 'bank' AND session_id = 's'`);
  const provider = await Pkcs11KeyProvider.open({ module: hsm!.module, token: hsm!.token, pin: hsm!.pin, keyLabel: 'core-master' });
  try {
    const tenantKey = await provider.unwrapTenantKey({ tenant: 'bank', version: 1 }, tk!.master_key_id as string, new Uint8Array(tk!.wrapped_key as Buffer));
    const dataKey = unwrapKey(tenantKey, new Uint8Array(sk!.wrapped_data_key as Buffer), dataKeyAad('bank', 's', Number(sk!.data_key_version), Number(sk!.tenant_key_version)));
    for (const [name, key] of [['tenant', Buffer.from(exposeSecretBytes(tenantKey))], ['session', Buffer.from(exposeSecretBytes(dataKey))]] as const) {
      for (const form of [key, Buffer.from(key.toString('hex')), Buffer.from(key.toString('base64'))]) {
        expect({ key: name, found: core.includes(form) }).toEqual({ key: name, found: false });
      }
    }
  } finally {
    await provider.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 240_000);
