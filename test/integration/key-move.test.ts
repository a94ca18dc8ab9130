import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { startFakeKms, type FakeKms } from '../support/fake-kms';
import { openVault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { KmsKeyProvider } from '../../src/keys';

/**
 * Moving tenant keys off the keyring file onto a KMS, killed (SIGKILL) part-way and run
 * again: every key is readable at every moment, the second run moves the rest, and at the
 * end the keyring file holds no master key, so the file alone opens nothing.
 */
afterAll(dropCreatedDatabases);

const quiet = createLogger({ level: 'silent' });
const WORKER = path.join(__dirname, '..', 'support', 'move-keys-worker.js');
const TENANTS = 120;
let kms: FakeKms;
beforeAll(async () => {
  kms = await startFakeKms(['alias/session-vault']);
});
afterAll(() => kms.close());

function mover(args: string[], killAfterMoves?: number): Promise<{ lines: string[]; signal: string | null; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (killAfterMoves !== undefined && out.split('\n').filter((l) => l.startsWith('moved')).length >= killAfterMoves) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ lines: out.split('\n').filter(Boolean), signal, code, stderr: err }));
  });
}

describe.each(backends())('moving tenant keys from the keyring file to KMS on $name', (backend) => {
  it('survives SIGKILL part-way, finishes on a second run, and leaves no master key in the file', async () => {
    const h = await tempHome();
    const database = backend.name === 'pglite' ? undefined : await backend.database();
    const kmsProvider = () => new KmsKeyProvider({ keyId: 'alias/session-vault', client: { endpoint: kms.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test-secret' } } });
    const setup = await openVault({ home: h.home, database, logger: quiet });
    for (let i = 0; i < TENANTS; i++) await setup.createTenant(`t${i}`);
    for (const t of ['t0', `t${TENANTS - 1}`]) await setup.session(t, 's').append({ type: 'task', task: `work of ${t}` });
    await setup.close();
    const args = [h.home, database ?? '-', kms.endpoint];

    const first = await mover(args, 5);
    expect(first.signal).toBe('SIGKILL');
    // Mid-move: some keys under KMS, the rest under the file, all readable through the chain.
    const mid = await openVault({ home: h.home, database, keyProvider: kmsProvider(), logger: quiet, migrate: false });
    try {
      const ids = new Set<string>();
      for (let i = 0; i < TENANTS; i++) for (const k of await mid.keys(`t${i}`)) ids.add(k.masterKeyId);
      expect([...ids].sort()).toEqual(['kms:alias/session-vault', 'local:1']);
      for (const t of ['t0', `t${TENANTS - 1}`]) expect((await mid.session(t, 's').state()).currentTask).toBe(`work of ${t}`);
    } finally {
      await mid.close();
    }

    const second = await mover(args);
    expect(second.stderr).not.toMatch(/error/i);
    const result = JSON.parse(second.lines.at(-1)!);
    expect(result.primary).toBe('kms:alias/session-vault');
    expect(result.rewrapped).toBeGreaterThan(0);
    expect(result.rewrapped).toBeLessThan(TENANTS);
    expect(result.removed).toEqual([1]);
    const keyring = JSON.parse(readFileSync(h.keyring, 'utf8'));
    expect(keyring).toMatchObject({ primaryMasterKey: null, masterKeys: [] });

    const after = await openVault({ home: h.home, database, keyProvider: kmsProvider(), logger: quiet, migrate: false });
    try {
      for (let i = 0; i < TENANTS; i++) expect((await after.keys(`t${i}`)).map((k) => k.masterKeyId)).toEqual(['kms:alias/session-vault']);
      expect((await after.session(`t${TENANTS - 1}`, 's').state()).currentTask).toBe(`work of t${TENANTS - 1}`);
      const trail = [];
      for await (const r of after.accessLog()) if (r.action === 'keys.rotate-master') trail.push([r.actor, r.outcome]);
      expect(trail).toEqual([['key-custodian', 'granted'], ['key-custodian', 'granted']]);
    } finally {
      await after.close();
    }
    // The file alone opens nothing any more.
    const fileOnly = await openVault({ home: h.home, database, logger: quiet, migrate: false });
    try {
      await expect(fileOnly.session('t0', 's').state()).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    } finally {
      await fileOnly.close();
    }
    h.cleanup();
  }, 300_000);
});
