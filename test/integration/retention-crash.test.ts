import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { backends, dropCreatedDatabases, tempHome, type Backend } from '../support/backends';
import { BIN } from '../support/cli';
import { asApp } from '../support/owner';
import { openVault, type Vault } from '../../src/vault';
import { createLogger } from '../../src/observability';

/**
 * `retention run` killed with SIGKILL at several points — after an archive object is
 * written and verified but before the database commits, right after a commit, and at
 * arbitrary times — then run again: every session ends archived exactly once, every event
 * is there exactly once, and everything verifies.
 */
afterAll(dropCreatedDatabases);

const SESSIONS = 12;

describe.each(backends())('retention run killed and rerun on $name', (backend: Backend) => {
  let home: string;
  let url: string | undefined;
  let cleanup: () => void;
  const open = (clock?: () => Date) => openVault({ home, database: url, logger: createLogger({ level: 'silent' }), ...(clock ? { clock } : {}) });

  beforeAll(async () => {
    ({ home, cleanup } = await tempHome());
    url = backend.name === 'pglite' ? undefined : await backend.database();
    const twoDaysAgo = Date.now() - 2 * 86_400_000;
    const v: Vault = await open(() => new Date(twoDaysAgo));
    await v.createTenant('bank');
    await v.operator({ actor: 'ops' }).setRetention('bank', { archiveAfter: '1d', retain: '7y' });
    for (let i = 0; i < SESSIONS; i++) {
      await v.session('bank', `s${String(i).padStart(2, '0')}`).appendMany(
        Array.from({ length: 1 + (i % 5) }, (_, k) => ({ type: 'message', role: k % 2 ? 'assistant' : 'user', content: `turn ${k} of ${i}` })),
      );
    }
    await v.close();
  });
  afterAll(() => cleanup());

  it('finishes with every session archived once and every event present once', async () => {
    const env = { PATH: process.env.PATH ?? '', VAULT_HOME: home, VAULT_ACTOR: 'ops', VAULT_LOG_LEVEL: 'debug', ...(url ? { VAULT_DATABASE_URL: url } : {}) };
    // Each kill costs a PGlite run the 10 s wait for the crashed holder's lock: fewer there.
    const kills: string[] =
      backend.name === 'pglite' ? ['retention.archive.verified:1', '"msg":"session archived":2'] : ['retention.archive.verified:1', '"msg":"session archived":2', 'retention.archive.verified:3', 'time:400', 'time:700'];
    for (const kill of kills) {
      const child = spawn(process.execPath, [BIN, 'retention', 'run'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      const exited = new Promise((r) => child.on('exit', r));
      const [marker, n] = [kill.slice(0, kill.lastIndexOf(':')), Number(kill.slice(kill.lastIndexOf(':') + 1))];
      if (marker === 'time') setTimeout(() => child.kill('SIGKILL'), n);
      else {
        let seen = 0;
        child.stderr!.on('data', (d: Buffer) => {
          seen += d.toString().split(marker).length - 1;
          if (seen >= n) child.kill('SIGKILL');
        });
      }
      await exited;
      if (kill === kills[0]) {
        // Killed after the first object was written and verified, before its group's commit:
        // objects are in the store (the others of the group are written meanwhile), every
        // session still hot and whole.
        const v = await open();
        try {
          expect((await v.sessions('bank')).filter((s) => s.status !== 'active')).toEqual([]);
          expect((await v.verify()).ok).toBe(true);
        } finally {
          await v.close();
        }
        expect(readdirSync(path.join(home, 'archive', 'bank'), { recursive: true }).filter((f) => String(f).endsWith('.svarc.gz')).length).toBeGreaterThanOrEqual(1);
      }
    }
    const last = spawn(process.execPath, [BIN, 'retention', 'run', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    expect(await new Promise((r) => last.on('exit', r))).toBe(0);

    const v = await open();
    try {
      const sessions = await v.sessions('bank');
      expect(sessions).toHaveLength(SESSIONS);
      expect(sessions.every((s) => s.status === 'archived')).toBe(true);
      for (const [i, s] of sessions.entries()) {
        const seqs: number[] = [];
        for await (const e of v.session('bank', s.session).events()) seqs.push(e.seq);
        expect(seqs).toEqual(Array.from({ length: 1 + (i % 5) }, (_, k) => k + 1));
      }
      // One archive record a session, and one object a session in the store.
      await asApp(v, `SELECT set_config('vault.tenant', 'bank', false)`);
      expect(await asApp(v, `SELECT count(*)::int AS n, count(DISTINCT session_id)::int AS d FROM archives`)).toEqual([{ n: SESSIONS, d: SESSIONS }]);
      expect(await asApp(v, `SELECT count(*)::int AS n FROM events`)).toEqual([{ n: 0 }]);
      await asApp(v, `SELECT set_config('vault.tenant', '', false)`);
      const objects = readdirSync(path.join(home, 'archive', 'bank'), { recursive: true }).filter((f) => String(f).endsWith('.svarc.gz'));
      expect(objects).toHaveLength(SESSIONS);
      expect(await v.verify()).toMatchObject({ ok: true });
    } finally {
      await v.close();
    }
  }, 240_000);
});
