import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault } from '../../src/vault';
import { refusal } from '../support/refusal';
import { storeHome, type StoreHome } from '../support/store-home';

/**
 * A purge destroys what it purges, so the database holds it to its own clock and to the
 * session's own last-event time, not to what the purging process says, and refuses a
 * purge that skips the tombstone where it checks them. The attacks: a retention job run
 * on a host whose clock is years ahead (a bad NTP step, or a thief with the job's
 * credentials who sets it so), which finds every session due; and the retention role
 * writing, in SQL, a tombstone stamped years ahead or one that says the session went
 * quiet years before it did, either of which passed the floor check before
 * drizzle/0045_purge_clock.sql, or no tombstone at all, with the session's status and
 * key alone, which no guard checked before 0046_purge_tombstone.sql. The session
 * appended now under a 7-year policy must survive each, its archive object kept and
 * restorable.
 */
afterAll(dropCreatedDatabases);

const YEAR = 365 * 86_400_000;

describe.each(backends())('a purge against the database clock, on $name', (backend) => {
  let store: StoreHome;
  let now = Date.now();
  const clock = () => new Date(now);
  const asJob = <T>(use: (v: Vault) => Promise<T>) => store.withVault(use, { appRole: 'session_vault_retention' });
  const inSql = (v: Vault, q: string) => withTenant(storeOf(v).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)));
  const objects = () => {
    const dir = path.join(store.home, 'archive');
    return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((f) => statSync(path.join(dir, f)).isFile()).sort() : [];
  };
  const purge = (session: string, tombstone: string) => `WITH t AS (INSERT INTO tombstones (tenant_id, session_id, head_seq, archive_digest, last_at, due_at, purged_at, purged_by, policy)
      SELECT tenant_id, session_id, head_seq, '\\x00'::bytea, ${tombstone}, 'retention-job', 'retain=7y' FROM sessions WHERE session_id = '${session}' RETURNING session_id)
    UPDATE sessions SET status = 'purged', wrapped_data_key = NULL WHERE session_id IN (SELECT session_id FROM t)`;

  beforeAll(async () => {
    store = await storeHome(backend, { clock });
    await store.withVault(async (v) => {
      await v.createTenant('bank');
      const ops = v.operator({ actor: 'ops', reason: 'policy' });
      await ops.setRetention('bank', { archiveAfter: '1d', retain: '7y' });
      for (const s of ['claim', 'loan']) {
        await v.session('bank', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
        await ops.archive('bank', s);
      }
    });
  }, 120_000);
  afterAll(() => store?.cleanup());

  it('a retention run whose clock is eight years ahead purges nothing: refused by the database, the archive kept', async () => {
    const before = objects();
    expect(before).toHaveLength(2);
    now += 8 * YEAR;
    const run: string[][] = [];
    await asJob(async (job) => {
      const op = job.operator({ actor: 'retention-job', reason: 'nightly' });
      // The run stops at the refusal, with its code: every later purge would meet it too.
      const stopped = (async () => {
        for await (const i of op.retentionRun({ tenant: 'bank' })) run.push([i.session, i.action, i.outcome]);
      })();
      expect(await refusal(stopped)).toMatch(/^CLOCK_AHEAD /);
      expect(await refusal(op.purge('bank', 'loan'))).toMatch(/^CLOCK_AHEAD database refused purging a session: a purge is stamped by the database's clock, and this one is ahead of it/);
    });
    now -= 8 * YEAR;
    expect(run).toEqual([]);
    expect(objects()).toEqual(before);
    await store.withVault(async (v) => {
      expect((await v.sessions('bank')).map((s) => [s.session, s.status])).toEqual([['claim', 'archived'], ['loan', 'archived']]);
      expect((await v.verify({ tenant: 'bank' })).problems).toEqual([]);
      const trail: string[][] = [];
      for await (const r of v.accessLog({ tenant: 'bank' })) if (r.actor === 'retention-job') trail.push([r.action, r.session ?? '', r.outcome]);
      expect(trail).toEqual([
        ['retention.run', '', 'granted'],
        ['retention.purge', 'claim', 'granted'],
        ['retention.purge', 'loan', 'granted'],
        ['retention.purge', 'claim', 'failed:CLOCK_AHEAD'],
        ['retention.purge', 'loan', 'failed:CLOCK_AHEAD'],
        ['retention.purge', 'loan', 'granted'],
        ['retention.purge', 'loan', 'failed:CLOCK_AHEAD'],
      ]);
      expect((await v.session('bank', 'claim').state()).messages).toEqual([expect.objectContaining({ content: 'customer claim' })]);
    });
  });

  it('a clock a few minutes ahead, within the skew the trail checks allow, still purges what is due; six minutes ahead does not', async () => {
    const MINUTE = 60_000;
    now = Date.now() - 8 * YEAR;
    await store.withVault(async (v) => {
      for (const s of ['old-1', 'old-2']) {
        await v.session('bank', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
        await v.operator({ actor: 'ops', reason: 'policy' }).archive('bank', s);
      }
    });
    await asJob(async (job) => {
      const op = job.operator({ actor: 'retention-job', reason: 'nightly' });
      now = Date.now() + 6 * MINUTE;
      expect(await refusal(op.purge('bank', 'old-1'))).toMatch(/^CLOCK_AHEAD /);
      now = Date.now() + 4 * MINUTE;
      expect(await op.purge('bank', 'old-1')).toMatchObject({ session: 'old-1', objectsDeleted: 1 });
    });
    now = Date.now();
    await store.withVault(async (v) => {
      expect((await v.sessions('bank')).filter((s) => s.session.startsWith('old-')).map((s) => [s.session, s.status])).toEqual([['old-1', 'purged'], ['old-2', 'archived']]);
      expect((await v.verify({ tenant: 'bank' })).problems).toEqual([]);
    });
  });

  it('the retention role cannot stamp a tombstone years ahead, nor say the session went quiet years before it did, nor purge with no tombstone', async () => {
    await asJob(async (job) => {
      expect(await refusal(inSql(job, purge('loan', `last_at, last_at + interval '7 years 1 day', clock_timestamp() + interval '8 years'`)))).toMatch(/database's clock/);
      expect(await refusal(inSql(job, purge('loan', `last_at - interval '8 years', last_at - interval '1 year', clock_timestamp()`)))).toMatch(/last-event time/);
      // No tombstone at all: the status and the key alone, which no floor check saw.
      expect(await refusal(inSql(job, `UPDATE sessions SET status = 'purged', wrapped_data_key = NULL WHERE session_id = 'loan'`))).toMatch(/tombstone/);
      // Stamped honestly, now, it is refused by the floor the session is kept under.
      expect(await refusal(inSql(job, purge('loan', `last_at, clock_timestamp(), clock_timestamp()`)))).toMatch(/retention floor \(7y\)/);
    });
    await store.withVault(async (v) => {
      expect((await v.sessions('bank')).find((s) => s.session === 'loan')?.status).toBe('archived');
      expect(await v.operator({ actor: 'ops', reason: 'audit' }).restore('bank', 'loan')).toBe(true);
      expect((await v.session('bank', 'loan').state()).messages).toEqual([expect.objectContaining({ content: 'customer loan' })]);
      expect((await v.verify({ tenant: 'bank' })).problems).toEqual([]);
    });
  });
});
