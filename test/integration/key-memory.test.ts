import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { SecretBytes, ensureSodium, exposeSecretBytes } from '../../src/crypto';
import { dataKeyAad, tenantKeyAad, unwrapKey, EnvKeyProvider } from '../../src/keys';

/**
 * Key material never sits in a process's heap as text: a process that took its master key
 * from the environment and used every key (tenant key, session key) writes a heap snapshot
 * with the vault open and its keys cached; no encoding of any of the keys (hex, base64,
 * base64url) is in it. (Keys are held as bytes in SecretBytes, zeroed on close.)
 */
const WORKER = path.join(__dirname, '..', 'support', 'heap-worker.js');

it('no key appears in a heap snapshot of a process using them', async () => {
  await ensureSodium();
  const home = mkdtempSync(path.join(os.tmpdir(), 'sv-heap-'));
  const snapshot = path.join(home, 'heap.heapsnapshot');
  const master = randomBytes(32);
  const masterB64 = master.toString('base64');
  const r = spawnSync(process.execPath, [WORKER, home, snapshot], { env: { PATH: process.env.PATH ?? '', VAULT_MASTER_KEY: masterB64 }, encoding: 'utf8', timeout: 120_000 });
  expect(r.stderr).toBe('');
  expect(r.stdout.trim()).toBe('done');

  // The keys the process used, unwrapped here from what it stored.
  const db = new PGlite(path.join(home, 'db'));
  const tk = (await db.query<{ wrapped_key: Uint8Array; master_key_id: string }>(`SELECT wrapped_key, master_key_id FROM session_vault.tenant_keys WHERE tenant_id = 'bank'`)).rows[0]!;
  const sk = (await db.query<{ wrapped_data_key: Uint8Array; data_key_version: number; tenant_key_version: number }>(
    `SELECT wrapped_data_key, data_key_version, tenant_key_version FROM session_vault.sessions WHERE tenant_id = 'bank' AND session_id = 's'`,
  )).rows[0]!;
  await db.close();
  const masterKey = SecretBytes.adopt(new Uint8Array(master));
  expect(tk.master_key_id).toBe(EnvKeyProvider.fromBase64(masterB64).masterKeyId);
  const tenantKey = unwrapKey(masterKey, tk.wrapped_key, tenantKeyAad('bank', 1, tk.master_key_id));
  const dataKey = unwrapKey(tenantKey, sk.wrapped_data_key, dataKeyAad('bank', 's', sk.data_key_version, sk.tenant_key_version));

  const heap = readFileSync(snapshot, 'utf8');
  expect(heap.length).toBeGreaterThan(1_000_000); // a real snapshot
  for (const [name, key] of [['master', master], ['tenant', Buffer.from(exposeSecretBytes(tenantKey))], ['session', Buffer.from(exposeSecretBytes(dataKey))]] as const) {
    for (const encoding of ['hex', 'base64', 'base64url'] as const) {
      const text = key.toString(encoding).replace(/=+$/, '');
      expect({ key: name, encoding, found: heap.includes(text) }).toEqual({ key: name, encoding, found: false });
    }
  }
  // The content itself is in the heap, as it should be: the application read it.
  expect(heap.includes('What is my balance?')).toBe(true);
  rmSync(home, { recursive: true, force: true });
}, 180_000);
