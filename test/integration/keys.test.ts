import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { backends, dropCreatedDatabases, tempHome, type Backend } from '../support/backends';
import { asOwner } from '../support/owner';
import { openVault, type Vault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { assertCanBecomePrimary } from '../../src/keys';

/** Tenant key rotation, rewrap, retirement and destruction. */
afterAll(dropCreatedDatabases);

const task = (t: string) => ({ type: 'task', task: t });

async function readAll(vault: Vault, tenant: string, session: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of vault.session(tenant, session).events()) out.push((e.data as { task: string }).task);
  return out;
}

describe('the key state machine', () => {
  it('never makes a retired or destroyed version primary again', () => {
    expect(() => assertCanBecomePrimary(1, 'retired')).toThrow(expect.objectContaining({ code: 'KEY_STATE' }));
    expect(() => assertCanBecomePrimary(1, 'destroyed')).toThrow(expect.objectContaining({ code: 'KEY_STATE' }));
    expect(() => assertCanBecomePrimary(1, 'active')).not.toThrow();
  });
});

describe.each(backends())('tenant key lifecycle on $name', (backend: Backend) => {
  let vault: Vault;
  let home: string;
  let url: string | undefined;
  let cleanup: () => void;
  const open = () => openVault({ home, database: url, logger: createLogger({ level: 'silent' }) });

  beforeEach(async () => {
    ({ home, cleanup } = await tempHome());
    url = backend.name === 'pglite' ? undefined : await backend.database();
    vault = await open();
    await vault.createTenant('bank');
  });
  afterEach(async () => {
    await vault.close();
    cleanup();
  });

  it('rotates with appends and reads going on, and everything still opens', async () => {
    const op = vault.operator({ actor: 'sec', reason: 'quarterly' });
    await vault.session('bank', 'old').appendMany([task('a'), task('b')]);
    expect(await op.rotateKey('bank')).toEqual({ version: 2, previous: 1 });
    await vault.session('bank', 'old').append(task('c')); // an existing session keeps its key
    await vault.session('bank', 'new').append(task('x')); // a new session is wrapped by v2
    expect(await vault.keys('bank')).toEqual([
      { version: 1, state: 'active', createdAt: expect.any(String), masterKeyId: 'local:1', sessions: 1 },
      { version: 2, state: 'primary', createdAt: expect.any(String), masterKeyId: 'local:1', sessions: 1 },
    ]);
    await vault.close();
    vault = await open(); // a fresh process: nothing cached
    expect(await readAll(vault, 'bank', 'old')).toEqual(['a', 'b', 'c']);
    expect(await readAll(vault, 'bank', 'new')).toEqual(['x']);
    expect((await vault.verify()).ok).toBe(true);
  });

  it('retires and destroys only in order, and never the primary', async () => {
    const op = vault.operator({ actor: 'sec' });
    await vault.session('bank', 's').append(task('a'));
    await expect(op.retireKey('bank', 1)).rejects.toMatchObject({ code: 'KEY_STATE', message: expect.stringMatching(/primary/) });
    await expect(op.destroyKey('bank', 1)).rejects.toMatchObject({ code: 'KEY_STATE', message: expect.stringMatching(/only a retired version/) });
    await op.rotateKey('bank');
    await expect(op.retireKey('bank', 1)).rejects.toMatchObject({ code: 'KEY_STATE', message: expect.stringMatching(/still protects 1 session/) });
    await expect(op.destroyKey('bank', 2)).rejects.toMatchObject({ code: 'KEY_STATE' });
    expect(await op.rewrap('bank')).toEqual({ rewrapped: 1, held: 0, primary: 2 });
    await op.retireKey('bank', 1);
    await op.destroyKey('bank', 1);
    expect((await vault.keys('bank')).map((k) => [k.version, k.state, k.sessions])).toEqual([
      [1, 'destroyed', 0],
      [2, 'primary', 1],
    ]);
    const [rows] = await asOwner(vault, url ?? 'pglite', [{ text: `SELECT wrapped_key FROM tenant_keys WHERE version = 1` }]);
    expect((rows as { wrapped_key: unknown }[])[0]!.wrapped_key).toBeNull();
    expect(await readAll(vault, 'bank', 's')).toEqual(['a']);
    const actions = [];
    for await (const r of vault.accessLog()) actions.push(`${r.action}:${r.outcome.split(':')[0]}`);
    expect(actions.filter((a) => a.endsWith('granted'))).toEqual(
      ['retention.set:30d/7y', 'keys.retire', 'keys.destroy', 'keys.rotate', 'keys.retire', 'keys.destroy', 'keys.rewrap', 'keys.retire', 'keys.destroy'].map((a) => `${a}:granted`),
    );
  });

  it('rewrap killed with SIGKILL halfway and run again: every event opens, the chain unchanged byte for byte', async () => {
    const sessions = backend.name === 'pglite' ? 60 : 300;
    for (let i = 0; i < sessions; i++) await vault.session('bank', `s${String(i).padStart(4, '0')}`).append(task(`t${i}`));
    await vault.operator({ actor: 'sec' }).rotateKey('bank');
    const fingerprint = async () => {
      const [rows] = await asOwner(vault, url ?? 'pglite', [{ text: `SELECT session_id, seq, nonce, ciphertext, hash FROM events ORDER BY session_id, seq` }]);
      const h = createHash('sha256');
      for (const r of rows as Record<string, Uint8Array | string>[]) h.update(JSON.stringify([r.session_id, String(r.seq), Buffer.from(r.nonce as Uint8Array).toString('hex'), Buffer.from(r.ciphertext as Uint8Array).toString('hex'), Buffer.from(r.hash as Uint8Array).toString('hex')]));
      return h.digest('hex');
    };
    const before = await fingerprint();
    await vault.close();

    const bin = path.join(__dirname, '..', '..', 'dist', 'cli', 'bin.js');
    const env = { PATH: process.env.PATH ?? '', VAULT_HOME: home, VAULT_ACTOR: 'sec', ...(url ? { VAULT_DATABASE_URL: url } : {}), VAULT_LOG_LEVEL: 'debug' };
    const child = spawn(process.execPath, [bin, 'keys', 'rewrap', 'bank'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise((r) => child.on('exit', r));
    // Kill it once a third of the sessions have moved (it logs each one at debug level).
    let seen = 0;
    child.stderr!.on('data', (d: Buffer) => {
      seen += (d.toString().match(/"op":"keys\.rewrap\.session"/g) ?? []).length;
      if (seen >= sessions / 3) child.kill('SIGKILL');
    });
    await exited;

    vault = await open();
    const partway = await vault.keys('bank');
    const moved = partway.find((k) => k.version === 2)!.sessions;
    expect(moved).toBeGreaterThanOrEqual(Math.floor(sessions / 3)); // it really was killed halfway…
    expect(moved).toBeLessThan(sessions);
    const rerun = await vault.operator({ actor: 'sec' }).rewrap('bank');
    expect(rerun.rewrapped).toBe(sessions - moved);
    expect((await vault.keys('bank')).map((k) => k.sessions)).toEqual([0, sessions]);
    expect(await fingerprint()).toBe(before); // …and events were never touched
    for (let i = 0; i < sessions; i += Math.ceil(sessions / 20)) expect(await readAll(vault, 'bank', `s${String(i).padStart(4, '0')}`)).toEqual([`t${i}`]);
    expect((await vault.verify()).ok).toBe(true);
  });
});
