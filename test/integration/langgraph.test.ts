import { spawn } from 'node:child_process';
import path from 'node:path';
import { backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { openVault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { VaultCheckpointSaver } from '../../src/integrations/langgraph';

/**
 * A real LangGraph StateGraph with a tool that waits for human approval runs to its
 * interrupt in one process, which is then killed (SIGKILL); a second process resumes the
 * thread from the vault and finishes. Then the run reads back, checkpoint by checkpoint,
 * and verifies.
 */
afterAll(dropCreatedDatabases);

const WORKER = path.join(__dirname, '..', 'support', 'graph-worker.js');

function worker(args: string[], opts: { killAfterLine?: boolean } = {}): Promise<{ line: unknown; code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let line: unknown = null;
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0 && line === null) {
        line = JSON.parse(out.slice(0, nl));
        if (opts.killAfterLine) child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ line, code, signal, stderr: err }));
  });
}

describe.each(backends())('a LangGraph run on the vault, on $name', (backend) => {
  it('runs to an interrupt, is killed, resumes in another process, finishes, and the run replays and verifies', async () => {
    const h = await tempHome();
    const database = backend.name === 'pglite' ? '-' : await backend.database();
    const setup = await openVault({ home: h.home, database: database === '-' ? undefined : database, logger: createLogger({ level: 'silent' }) });
    await setup.createTenant('bank');
    await setup.close();

    const first = await worker(['start', h.home, database, 'bank', 'claim-7'], { killAfterLine: true });
    expect(first.signal).toBe('SIGKILL');
    expect(first.line).toEqual({ interrupted: [{ question: 'Approve moving $250 to savings?' }] });

    const second = await worker(['resume', h.home, database, 'bank', 'claim-7']);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(second.line).toEqual({
      messages: [
        { type: 'human', content: 'Move $250 to savings', toolCalls: [] },
        { type: 'ai', content: '', toolCalls: ['transfer_money'] },
        { type: 'tool', content: 'moved $250 to savings', toolCalls: [] },
        { type: 'ai', content: 'Transfer done: moved $250 to savings', toolCalls: [] },
      ],
    });

    const vault = await openVault({ home: h.home, database: database === '-' ? undefined : database, logger: createLogger({ level: 'silent' }) });
    try {
      const saver = new VaultCheckpointSaver({ vault, tenant: 'bank' });
      // The whole run, newest first: every superstep's checkpoint, from the input to the answer.
      const steps: number[] = [];
      for await (const t of saver.list({ configurable: { thread_id: 'claim-7', checkpoint_ns: '' } })) steps.push(t.metadata!.step);
      expect(steps).toEqual([...steps].sort((a, b) => b - a));
      expect(steps[steps.length - 1]).toBe(-1);
      const latest = await saver.getTuple({ configurable: { thread_id: 'claim-7' } });
      expect((latest!.checkpoint.channel_values.messages as unknown[]).length).toBe(4);
      // It is a session like any other: sealed, chained, verified without keys.
      const session = saver.sessionOf('claim-7');
      expect(session).toBe('lg.claim-7');
      const types = new Set<string>();
      for await (const e of vault.session('bank', session).events()) types.add(e.type);
      expect([...types].sort()).toEqual(['graph_checkpoint', 'graph_writes']);
      const report = await vault.verify({ tenant: 'bank' });
      expect(report).toMatchObject({ ok: true, sessions: 1, problems: [] });
    } finally {
      await vault.close();
      h.cleanup();
    }
  }, 240_000);
});

describe.each(backends())('deleting a LangGraph thread on $name', (backend) => {
  const checkpoint = (id: string) => ({ v: 4, id, ts: new Date().toISOString(), channel_values: { messages: ['secret balance 1,250'] }, channel_versions: { messages: 1 }, versions_seen: {} });

  it('is crypto-shredding recorded as operator access, refused under a legal hold, and leaves nothing readable', async () => {
    const h = await tempHome();
    const vault = await openVault({ home: h.home, database: await backend.database(), logger: createLogger({ level: 'silent' }) });
    try {
      await vault.createTenant('bank');
      const saver = new VaultCheckpointSaver({ vault, tenant: 'bank', actor: 'graph-service' });
      const thread = { configurable: { thread_id: 'claim-9', checkpoint_ns: '' } };
      await saver.put(thread, checkpoint('1ef00000-0000-6000-8000-000000000001'), { source: 'input', step: -1, parents: {} }, { messages: 1 });

      // Under a legal hold the delete is refused, and the thread stays whole.
      await vault.operator({ actor: 'legal', reason: 'litigation 2026-114' }).setHold('bank', saver.sessionOf('claim-9'));
      await expect(saver.deleteThread('claim-9')).rejects.toMatchObject({ code: 'LEGAL_HOLD' });
      expect((await saver.getTuple(thread))?.checkpoint.channel_values).toEqual({ messages: ['secret balance 1,250'] });

      await vault.operator({ actor: 'legal', reason: 'case closed' }).clearHold('bank', saver.sessionOf('claim-9'));
      await saver.deleteThread('claim-9');
      expect(await saver.getTuple(thread)).toBeUndefined();
      const listed = [];
      for await (const t of saver.list({ configurable: {} })) listed.push(t);
      expect(listed).toEqual([]);
      // The events are still there, sealed under a key that no longer exists.
      await expect(vault.session('bank', saver.sessionOf('claim-9')).tail(1)).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
      // Who did it, recorded before it happened; and the chain still verifies.
      const trail = [];
      for await (const r of vault.accessLog({ tenant: 'bank' })) trail.push([r.actor, r.action, r.session, r.outcome]);
      expect(trail).toEqual(
        expect.arrayContaining([
          ['graph-service', 'keys.shred', 'lg.claim-9', 'failed:LEGAL_HOLD'],
          ['graph-service', 'keys.shred', 'lg.claim-9', 'granted'],
        ]),
      );
      expect((await vault.verify({ tenant: 'bank' })).ok).toBe(true);
      // A deleted thread again: nothing to do.
      await expect(saver.deleteThread('claim-9')).resolves.toBeUndefined();
      await expect(saver.deleteThread('never-was')).resolves.toBeUndefined();
    } finally {
      await vault.close();
      h.cleanup();
    }
  }, 120_000);
});
