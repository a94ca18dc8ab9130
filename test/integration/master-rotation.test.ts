import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import path from 'node:path';
import { backends, dropCreatedDatabases, tempHome, type Backend } from '../support/backends';
import { openVault, type Vault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { readKeyringDocument, readKeyringFile } from '../../src/keys';
import { asOwner } from '../support/owner';

/** Master key rotation: every tenant key rewrapped, the keyring replaced safely, resumable. */
afterAll(dropCreatedDatabases);

const BIN = path.join(__dirname, '..', '..', 'dist', 'cli', 'bin.js');

describe.each(backends())('master key rotation on $name', (backend: Backend) => {
  let home: string;
  let url: string | undefined;
  let cleanup: () => void;
  const open = () => openVault({ home, database: url, logger: createLogger({ level: 'silent' }) });

  /** Every event of every session opens with a fresh vault reading the keyring as it is now. */
  async function everythingOpens(expected: number): Promise<void> {
    const keyring = await readKeyringFile(path.join(home, 'keyring.json')); // the file is valid
    for (const m of keyring.masterKeys.values()) m.key.dispose();
    const v = await open();
    try {
      let n = 0;
      for (const { tenant } of await v.tenants()) {
        for (const s of await v.sessions(tenant)) for await (const _ of v.session(tenant, s.session).events()) n++;
      }
      expect(n).toBe(expected);
      expect((await v.verify()).ok).toBe(true);
    } finally {
      await v.close();
    }
  }

  beforeEach(async () => {
    ({ home, cleanup } = await tempHome());
    url = backend.name === 'pglite' ? undefined : await backend.database();
    const v: Vault = await open();
    for (const t of ['a', 'b', 'c']) {
      await v.createTenant(t);
      await v.session(t, 's1').appendMany([{ type: 'task', task: '1' }, { type: 'task', task: '2' }]);
      await v.operator({ actor: 'sec' }).rotateKey(t); // two key versions a tenant
      await v.session(t, 's2').append({ type: 'task', task: '3' });
    }
    await v.close();
  });
  afterEach(() => cleanup());

  it('rewraps every tenant key under a new master and removes the old one', async () => {
    const v = await open();
    try {
      expect(await v.operator({ actor: 'sec', reason: 'annual' }).rotateMaster()).toEqual({ primary: 2, created: true, rewrapped: 6, removed: [1] });
      for (const t of ['a', 'b', 'c']) expect((await v.keys(t)).map((k) => k.masterKeyId)).toEqual(['local:2', 'local:2']);
    } finally {
      await v.close();
    }
    const keyring = await readKeyringFile(path.join(home, 'keyring.json'));
    expect([...keyring.masterKeys.keys()]).toEqual([2]);
    await everythingOpens(9);
  });

  it('moves the release key with the tenant keys: once the old master is gone, the vault still archives', async () => {
    const v = await open();
    try {
      await v.operator({ actor: 'ops', reason: 'quiet' }).archive('a', 's1'); // registers the release key, under master 1
      expect(await v.operator({ actor: 'sec', reason: 'annual' }).rotateMaster()).toEqual({ primary: 2, created: true, rewrapped: 7, removed: [1] });
    } finally {
      await v.close();
    }
    const after = await open(); // a fresh process: its keyring holds master 2 alone
    try {
      expect(await after.operator({ actor: 'ops', reason: 'quiet' }).archive('b', 's1')).toMatchObject({ outcome: 'archived' });
      expect((await after.verify()).ok).toBe(true);
    } finally {
      await after.close();
    }
  });

  it('leaves a valid keyring and readable data when killed at any point, and finishes when run again', async () => {
    const env = { PATH: process.env.PATH ?? '', VAULT_HOME: home, VAULT_ACTOR: 'sec', VAULT_LOG_LEVEL: 'debug', ...(url ? { VAULT_DATABASE_URL: url } : {}) };
    // First a kill in the middle of rewrapping (on its first rewrapped key), then kills at
    // times spread over start-up, the keyring replacement, the rewraps and the clean-up.
    // On PGlite every kill leaves the store's lock behind, which the next open waits out
    // (10 s, as a crashed holder's lock must be), so fewer kills there.
    const kills: ('first-key' | number)[] = ['first-key', ...(backend.name === 'pglite' ? [900, 1900] : [350, 450, 550, 650, 750, 850])];
    let intermediate = 0;
    for (const kill of kills) {
      const child = spawn(process.execPath, [BIN, 'keys', 'rotate-master'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      const exited = new Promise((r) => child.on('exit', r));
      if (kill === 'first-key') child.stderr!.on('data', (d: Buffer) => d.toString().includes('"op":"keys.rotate-master.key"') && child.kill('SIGKILL'));
      else setTimeout(() => child.kill('SIGKILL'), kill);
      await exited;
      const keyring = await readKeyringFile(path.join(home, 'keyring.json'));
      if (keyring.masterKeys.size > 1) intermediate++;
      for (const m of keyring.masterKeys.values()) m.key.dispose();
      await everythingOpens(9);
    }
    expect(intermediate).toBeGreaterThan(0); // at least one kill really landed mid-rotation
    const v = await open();
    try {
      const r = await v.operator({ actor: 'sec' }).rotateMaster();
      const keyring = await readKeyringFile(path.join(home, 'keyring.json'));
      expect([...keyring.masterKeys.keys()]).toEqual([r.primary]); // finished: one master, wrapping everything
      for (const t of ['a', 'b', 'c']) expect(new Set((await v.keys(t)).map((k) => k.masterKeyId))).toEqual(new Set([`local:${r.primary}`]));
    } finally {
      await v.close();
    }
    await everythingOpens(9);
  }, 240_000);

  it('keeps the signing key another command rotated in while it ran: each reads and replaces the keyring under its lock', async () => {
    const v = await open();
    let other: SpawnSyncReturns<string> | undefined;
    try {
      await v.operator({ actor: 'sec', reason: 'annual' }).rotateMaster((done) => {
        if (done !== 1) return;
        // A second security officer rotates the signing key from another shell, to the end,
        // while the master rotation is between its first rewrap and its second.
        const env = { PATH: process.env.PATH ?? '', VAULT_HOME: home, ...(url ? { VAULT_DATABASE_URL: url } : {}) };
        other = spawnSync(process.execPath, [BIN, 'keys', 'rotate-signing', '--json', '--actor', 'sec2', '--reason', 'annual', '--lock-timeout', '1'], { env, encoding: 'utf8' });
      });
    } finally {
      await v.close();
    }
    const keyring = await readKeyringDocument(path.join(home, 'keyring.json'));
    expect(keyring.masterKeys.map((m) => m.id)).toEqual([2]);
    if (backend.name === 'pglite') {
      // The embedded store admits one process at a time: the second command waits for it,
      // and gives up having changed nothing.
      expect({ status: other!.status, stderr: other!.stderr }).toEqual({ status: 4, stderr: expect.stringContaining('error[STORE_LOCKED]') });
      expect(keyring.signingKeys).toHaveLength(1);
    } else {
      expect({ status: other!.status, stderr: other!.stderr }).toEqual({ status: 0, stderr: '' });
      const rotated = JSON.parse(other!.stdout) as { previous: string; primary: string };
      expect(keyring.primarySigningKey).toBe(rotated.primary);
      expect(keyring.signingKeys.map((k) => [k.id, k.retiredAt !== undefined])).toEqual([
        [rotated.previous, true],
        [rotated.primary, false],
      ]);
    }
    await everythingOpens(9);
  });

  it('fails a call that joined a rotation as the rotation fails, typed, each recorded', async () => {
    const v = await open();
    try {
      // A tenant key wrapped outside the keyring: the rotation refuses before it changes anything.
      await asOwner(v, url ?? '', [{ text: "UPDATE tenant_keys SET master_key_id = 'kms:elsewhere' WHERE tenant_id = 'b' AND version = 1" }]);
      const op = v.operator({ actor: 'sec', reason: 'annual' });
      const both = await Promise.all([op.rotateMaster(), op.rotateMaster()].map((p) => p.then(() => 'rotated', (e: { code?: string }) => e.code)));
      expect(both).toEqual(['KEY_STATE', 'KEY_STATE']);
      const outcomes = [];
      for await (const r of v.accessLog()) if (r.action === 'keys.rotate-master') outcomes.push(r.outcome);
      expect(outcomes.sort()).toEqual(['failed:KEY_STATE', 'failed:KEY_STATE', 'granted', 'granted']);
    } finally {
      await v.close();
    }
    expect((await readKeyringDocument(path.join(home, 'keyring.json'))).masterKeys.map((m) => m.id)).toEqual([1]);
  });

  it('refuses, changing nothing, where the release key is wrapped outside the keyring', async () => {
    const v = await open();
    try {
      await v.operator({ actor: 'ops', reason: 'quiet' }).archive('a', 's1'); // registers the release key, under master 1
      await asOwner(v, url ?? '', [{ text: "UPDATE release_key_wraps SET master_key_id = 'kms:elsewhere'" }]);
      await expect(v.operator({ actor: 'sec', reason: 'annual' }).rotateMaster()).rejects.toMatchObject({
        code: 'KEY_STATE',
        message: expect.stringMatching(/^the release key is wrapped by kms:elsewhere, not by the keyring/),
      });
      for (const t of ['a', 'b', 'c']) expect((await v.keys(t)).map((k) => k.masterKeyId)).toEqual(['local:1', 'local:1']);
    } finally {
      await v.close();
    }
    expect((await readKeyringDocument(path.join(home, 'keyring.json'))).masterKeys.map((m) => m.id)).toEqual([1]);
  });

  it('gives one new master to two rotations started in the same moment in one process: the second finishes the first', async () => {
    const v = await open();
    try {
      const op = v.operator({ actor: 'sec', reason: 'annual' });
      const both = await Promise.all([op.rotateMaster(), op.rotateMaster()]);
      expect(both.map((r) => r.primary)).toEqual([2, 2]);
      expect(both.map((r) => r.created).sort()).toEqual([false, true]);
      for (const t of ['a', 'b', 'c']) expect((await v.keys(t)).map((k) => k.masterKeyId)).toEqual(['local:2', 'local:2']);
    } finally {
      await v.close();
    }
    expect((await readKeyringDocument(path.join(home, 'keyring.json'))).masterKeys.map((m) => m.id)).toEqual([2]);
    await everythingOpens(9);
  });

  it('gives one new master to two officers rotating at once, from two shells: every key under it, nothing lost', async () => {
    // Enough tenant keys that the two commands' runs overlap on a server.
    const v = await open();
    try {
      for (let i = 0; i < 100; i++) await v.createTenant(`t${i}`);
    } finally {
      await v.close();
    }
    const env = { PATH: process.env.PATH ?? '', VAULT_HOME: home, ...(url ? { VAULT_DATABASE_URL: url } : {}) };
    const run = () =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'keys', 'rotate-master', '--json', '--actor', 'sec', '--reason', 'annual', '--lock-timeout', '120'], { env });
        let [stdout, stderr] = ['', ''];
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('exit', (status) => resolve({ status, stdout, stderr }));
      });
    const runs = await Promise.all([run(), run()]);
    expect(runs.map((r) => [r.status, r.stderr])).toEqual([
      [0, ''],
      [0, ''],
    ]);
    const reports = runs.map((r) => JSON.parse(r.stdout) as { primary: number; created: boolean });
    const keyring = await readKeyringDocument(path.join(home, 'keyring.json'));
    // Either the second found the first's rotation under way and finished it (one new
    // master, 2), or it came after the first had ended and rotated again (3): the embedded
    // store, which admits one process at a time, always so. Never two masters made at once.
    const overlapped = reports.some((r) => !r.created);
    if (backend.name === 'pglite') expect(overlapped).toBe(false);
    expect(reports.map((r) => r.created).sort()).toEqual(overlapped ? [false, true] : [true, true]);
    expect(reports.map((r) => r.primary).sort()).toEqual(overlapped ? [2, 2] : [2, 3]);
    expect(keyring.masterKeys.map((m) => m.id)).toEqual([overlapped ? 2 : 3]);
    expect(keyring.primaryMasterKey).toBe(overlapped ? 2 : 3);
    const after = await open();
    try {
      for (const { tenant } of await after.tenants()) {
        expect(new Set((await after.keys(tenant)).map((k) => k.masterKeyId))).toEqual(new Set([`local:${keyring.primaryMasterKey}`]));
      }
      for (let i = 0; i < 100; i++) await after.session(`t${i}`, 'after').append({ type: 'task', task: 'opens' });
    } finally {
      await after.close();
    }
    await everythingOpens(109);
  }, 240_000);
});
