import { existsSync, readFileSync } from 'node:fs';
import { Client } from 'pg';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';

/**
 * The backends the vault's pool opens keep the memory they free for their next statement
 * (keepBackendHeap, src/store/postgres.ts). Without it, glibc gave the top of a backend's
 * heap back after each group append (session_vault_append_group frees more than its 128 KiB
 * trim threshold at each end) and faulted it in again on the next, a third of Postgres's CPU
 * an append with 8 sessions appending at once (docs/performance.md). This test measured 2.4
 * page faults an append without it, 0.41–0.46 with it. Not a timed test: it counts the page faults
 * the kernel charged to the vault's backends (/proc/<pid>/stat), so it runs where the
 * server's backends are processes of this host using glibc, as in CI; elsewhere it says why.
 */
afterAll(dropCreatedDatabases);

const servers = backends().filter((b) => b.name === 'postgres');
process.stderr.write('[backend-heap.test.ts] Postgres only: the embedded store (PGlite) runs inside this process, with no backend of its own\n');

/** Minor page faults the kernel charged to a process so far (field 10 of /proc/<pid>/stat). */
const minorFaults = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[7]);

describe.each(servers)('the backends the pool opens on $name', (backend) => {
  it('keep their heap between group appends instead of giving it back and faulting it in again', async () => {
    const t = await testVault(backend);
    const admin = new Client({ connectionString: t.url });
    await admin.connect();
    try {
      await t.vault.createTenant('bank');
      const sessions = Array.from({ length: 8 }, (_, i) => t.vault.session('bank', `teller-${i}`));
      // Eight sessions appending at once: their appends travel in groups (group commit).
      const burst = (each: number) => Promise.all(sessions.map(async (s) => {
        for (let i = 0; i < each; i++) await s.append({ type: 'message', role: 'user', content: 'balance?' });
      }));
      await burst(20); // every pooled connection opened and warm
      const pids = (await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows.map((r) => r.pid);
      expect(pids.length).toBeGreaterThan(1);
      const local = pids.filter((pid) => existsSync(`/proc/${pid}/maps`) && readFileSync(`/proc/${pid}/maps`, 'utf8').includes('libc.so.6'));
      if (local.length !== pids.length) {
        process.stderr.write(`[backend-heap.test.ts] not measured on ${backend.name}: its backends are not processes of this host using glibc\n`);
        return;
      }
      const before = local.map(minorFaults);
      await burst(200);
      const faults = local.map(minorFaults).reduce((sum, f, i) => sum + f - before[i]!, 0);
      const appends = sessions.length * 200;
      // With the heap given back on every group: above 2 an append; kept: below 1.
      expect(faults / appends).toBeLessThan(1.2);
      for (const s of sessions) expect(await s.headSeq()).toBe(220);
    } finally {
      await admin.end();
      await t.close();
    }
  });
});
