import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { backends, dropCreatedDatabases, tempHome, type Backend } from '../support/backends';
import { openVault } from '../../src/vault';
import { createLogger } from '../../src/observability';

/**
 * Real processes writing one session at once, and a writer killed with SIGKILL in the
 * middle of a batch. On PGlite the store is a folder on disk shared by the processes
 * (they take turns through its lock); on Postgres they race at the database.
 */
afterAll(dropCreatedDatabases);

const WORKER = path.join(__dirname, '..', 'support', 'append-worker.js');

function worker(args: string[]): { child: ChildProcess; lines: string[]; done: Promise<number | null> } {
  const child = spawn(process.execPath, [WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) process.stderr.write(`worker exited ${code}: ${err}\n`);
      resolve(code);
    }),
  );
  return { child, lines, done };
}

async function setup(backend: Backend) {
  const h = await tempHome();
  const database = backend.name === 'pglite' ? '-' : await backend.database();
  const open = () => openVault({ home: h.home, database: database === '-' ? undefined : database, logger: createLogger({ level: 'silent' }) });
  const v = await open();
  await v.createTenant('bank');
  await v.close();
  return { home: h.home, database, open, cleanup: h.cleanup };
}

describe.each(backends())('real processes on $name', (backend) => {
  it('4 processes appending to one session leave one gapless, verifying chain with every acknowledged event', async () => {
    const env = await setup(backend);
    const perWorker = backend.name === 'pglite' ? 8 : 25;
    const workers = Array.from({ length: 4 }, () => worker([env.home, env.database, 'bank', 'shared', 'many', String(perWorker)]));
    expect(await Promise.all(workers.map((w) => w.done))).toEqual([0, 0, 0, 0]);

    const acknowledged = workers.flatMap((w) => w.lines.map((l) => JSON.parse(l) as { firstSeq: number; lastSeq: number; contents: string[] }));
    expect(acknowledged).toHaveLength(4 * perWorker);
    const vault = await env.open();
    try {
      const stored = new Map<number, string>();
      for await (const e of vault.session('bank', 'shared').events()) stored.set(e.seq, (e.data as { content: string }).content);
      const total = acknowledged.reduce((n, a) => n + a.contents.length, 0);
      expect([...stored.keys()]).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      for (const a of acknowledged) {
        a.contents.forEach((c, i) => expect(stored.get(a.firstSeq + i)).toBe(c));
      }
      expect(await vault.verify({ tenant: 'bank' })).toMatchObject({ ok: true, events: total });
    } finally {
      await vault.close();
      env.cleanup();
    }
  });

  it('a writer killed with SIGKILL mid-batch leaves none of that batch behind', async () => {
    const env = await setup(backend);
    const vault0 = await env.open();
    await vault0.session('bank', 'killed').append({ type: 'task', task: 'before' });
    await vault0.close();

    const w = worker([env.home, env.database, 'bank', 'killed', 'big', '4000']);
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (w.lines.includes('sending')) {
          clearInterval(check);
          setTimeout(() => {
            w.child.kill('SIGKILL');
            resolve();
          }, 30);
        }
      }, 2);
    });
    await w.done;
    expect(w.lines).not.toContain('acknowledged');

    const vault = await env.open();
    try {
      const state = await vault.session('bank', 'killed').state();
      expect(state.lastSeq).toBe(1);
      expect(state.currentTask).toBe('before');
      expect((await vault.verify({ tenant: 'bank' })).ok).toBe(true);
      await vault.session('bank', 'killed').append({ type: 'task', task: 'after' });
      expect((await vault.session('bank', 'killed').state()).lastSeq).toBe(2);
    } finally {
      await vault.close();
      env.cleanup();
    }
  });

  it('a writer killed with SIGKILL mid-group leaves every acknowledged append and no half of any', async () => {
    const env = await setup(backend);
    const sessions = 8;
    const w = worker([env.home, env.database, 'bank', 'grouped', 'groups', String(sessions)]);
    // Kill it once it has acknowledged a good number of appends, while groups are in flight.
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (w.lines.length >= 60) {
          clearInterval(check);
          w.child.kill('SIGKILL');
          resolve();
        }
      }, 2);
    });
    await w.done;
    const acknowledged = w.lines.map((l) => JSON.parse(l) as { session: string; firstSeq: number; lastSeq: number; contents: string[] });
    expect(acknowledged.length).toBeGreaterThanOrEqual(60);

    const vault = await env.open();
    try {
      for (let k = 0; k < sessions; k++) {
        const id = `grouped-${k}`;
        const stored = new Map<number, string>();
        for await (const e of vault.session('bank', id).events()) stored.set(e.seq, (e.data as { content: string }).content);
        // None half: whole batches of 3, gapless from 1.
        expect(stored.size % 3).toBe(0);
        expect([...stored.keys()]).toEqual(Array.from({ length: stored.size }, (_, i) => i + 1));
        for (let seq = 1; seq <= stored.size; seq += 3) {
          const batch = [0, 1, 2].map((j) => stored.get(seq + j)!.split(':').slice(0, 2).join(':'));
          expect(new Set(batch).size).toBe(1);
        }
        // Every acknowledged append is there, as acknowledged.
        for (const a of acknowledged.filter((x) => x.session === id)) {
          a.contents.forEach((c, i) => expect(stored.get(a.firstSeq + i)).toBe(c));
        }
      }
      expect((await vault.verify({ tenant: 'bank' })).ok).toBe(true);
    } finally {
      await vault.close();
      env.cleanup();
    }
  });
});
