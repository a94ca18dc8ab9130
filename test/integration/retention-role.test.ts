import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { sql } from 'drizzle-orm';
import { adminPassword, adminUrl, backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { openVault, type Vault, type VaultOptions } from '../../src/vault';
import { releaseKeyOf, storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { createLogger } from '../../src/observability';
import { refusal } from '../support/refusal';
import { runCli } from '../support/cli';
import { storeHome, type StoreHome } from '../support/store-home';
import { archiveObjectName } from '../../src/retention';

/**
 * The retention job's role against what else the operator role may do, by performing the
 * attacks: a thief with the job's database credentials (a scheduled job's, the most
 * exposed an operator has; no keyring) shortens the policy, lowers floors, destroys or
 * writes over keys, lifts holds, issues tokens, creates tenants. Before
 * drizzle/0044_retention_role.sql the job ran as the operator role and the database
 * allowed all of it; now the job's role archives, purges and restores, and the database
 * refuses the rest. What it can still do with its own privileges (purge in SQL a session
 * past its floor, with no record in the trail) `verify` names; a purge stamped ahead of
 * the database's clock, or counted from an earlier last-event time, the database refuses
 * (purge-guards.test.ts).
 */
afterAll(dropCreatedDatabases);

const quiet = createLogger({ level: 'silent' });
const DAY = 86_400_000;
const DENIED = /permission denied/;

describe.each(backends())('the retention role, on $name', (backend) => {
  let store: StoreHome;
  let now = Date.parse('2026-02-01T09:00:00Z');
  const clock = () => new Date(now);
  const withVault = <T>(use: (v: Vault) => Promise<T>, extra: Partial<VaultOptions> = {}): Promise<T> => store.withVault(use, extra);
  const asJob = <T>(use: (v: Vault) => Promise<T>) => withVault(use, { appRole: 'session_vault_retention' });
  const inSql = (v: Vault, q: string) => withTenant(storeOf(v).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)));

  beforeAll(async () => {
    store = await storeHome(backend, { clock });
    await withVault(async (v) => {
      await v.createTenant('bank');
      await v.operator({ actor: 'ops', reason: 'policy' }).setRetention('bank', { archiveAfter: '1d', retain: '3d' });
      for (const s of ['old', 'held', 'young']) await v.session('bank', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
      await v.operator({ actor: 'legal', reason: 'case 7' }).setHold('bank', 'held');
      await v.operator({ actor: 'ops', reason: 'service' }).createToken('bank', { role: 'admin', label: 'ops desk' });
      await releaseKeyOf(v).ensure(); // what `init` does: the retention role may not register the release key (0078)
    });
  }, 120_000);
  afterAll(() => store?.cleanup());

  it('acts as the retention role and does the job: archives what is idle, purges what is past its floor, neither for a held session', async () => {
    now += 2 * DAY;
    await withVault((v) => v.session('bank', 'young').append({ type: 'task', task: 'still busy' }));
    const runs: string[][] = [];
    await asJob(async (job) => {
      expect(storeOf(job).layout.role).toBe('session_vault_retention');
      const op = job.operator({ actor: 'retention-job', reason: 'nightly' });
      for await (const i of op.retentionRun({ tenant: 'bank' })) runs.push([i.session, i.action, i.outcome]);
      now += 2 * DAY;
      for await (const i of op.retentionRun({ tenant: 'bank' })) runs.push([i.session, i.action, i.outcome]);
      expect(await op.restore('bank', 'young')).toBe(true);
    });
    // The first run archives the idle one (not the held one, whose events stay in the database: 0074); the second purges it past its floor and archives the other.
    expect(runs).toEqual([
      ['old', 'archive', 'done'],
      ['old', 'purge', 'done'],
      ['young', 'archive', 'done'],
    ]);
    await withVault(async (v) => {
      expect((await v.sessionInfo('bank', 'old')).status).toBe('purged');
      expect((await v.sessionInfo('bank', 'held')).status).toBe('active');
      expect((await v.verify({ tenant: 'bank' })).problems).toEqual([]);
    });
  });

  it('is refused everything else, through the API and in SQL: policy, floors, keys, holds, tokens, tenants', async () => {
    await asJob(async (job) => {
      const mallory = job.operator({ actor: 'mallory', reason: 'routine' });
      const attempts: [string, () => Promise<unknown>][] = [
        ['shorten retention', () => mallory.setRetention('bank', { archiveAfter: '1d', retain: '1d', overrideFloors: true })],
        ['rotate the tenant key', () => mallory.rotateKey('bank')],
        ['shred a session', () => mallory.shred('bank', 'young')],
        ['lift a hold', () => mallory.clearHold('bank', 'held')],
        ['issue a token', () => mallory.createToken('bank', { role: 'admin', label: 'backdoor' })],
        ['create a tenant', () => job.createTenant('intruder')],
      ];
      // Refused for want of the privilege, or (a shred, whose key deletion the role's purge privilege covers) by the key guard.
      for (const [what, attempt] of attempts) expect([what, await refusal(attempt())]).toEqual([what, expect.stringMatching(/^(PERMISSION_DENIED |STORAGE_REFUSED .*only the operator role changes a session's key)/)]);
      for (const q of [
        `UPDATE retention_policies SET retain = '1d'`,
        `UPDATE sessions SET retain_floor = '1d'`,
        `UPDATE tenant_keys SET wrapped_key = NULL, state = 'destroyed'`,
        `UPDATE legal_holds SET cleared_at = now(), cleared_by = 'legal', clear_reason = 'x'`,
        `UPDATE api_tokens SET revoked_at = now(), revoked_by = 'mallory'`,
        `UPDATE sessions SET tenant_key_version = 2 WHERE session_id = 'young'`,
      ]) {
        expect([q, await refusal(inSql(job, q))]).toEqual([q, expect.stringMatching(DENIED)]);
      }
      // Its key privilege is for a purge: a key deleted, written over or swapped on its own is refused.
      for (const q of [
        `UPDATE sessions SET wrapped_data_key = NULL WHERE session_id = 'young'`,
        `UPDATE sessions SET wrapped_data_key = '\\x00'::bytea || wrapped_data_key WHERE session_id = 'young'`,
        `UPDATE sessions SET wrapped_data_key = NULL WHERE session_id = 'held'`,
      ]) {
        expect([q, await refusal(inSql(job, q))]).toEqual([q, expect.stringMatching(/only the operator role changes a session's key|legal hold/)]);
      }
    });
    // And the floor holds a purge by hand: a tombstone dated now, for a session kept three days, is refused.
    await withVault((v) => v.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'young'));
    await asJob(async (job) => {
      const early = `INSERT INTO tombstones (tenant_id, session_id, head_seq, archive_digest, last_at, due_at, purged_at, purged_by, policy)
        SELECT tenant_id, session_id, head_seq, '\\x00'::bytea, last_at, last_at, last_at, 'mallory', 'retain=0d' FROM sessions WHERE session_id = 'young'`;
      expect(await refusal(inSql(job, early))).toMatch(/retention floor/);
    });
    await withVault(async (v) => {
      expect(await v.retention('bank')).toMatchObject({ archiveAfter: '1d', retain: '3d' });
      expect((await v.holds('bank')).map((h) => h.session)).toEqual(['held']);
      expect((await v.keys('bank')).map((k) => [k.version, k.state])).toEqual([[1, 'primary']]);
      expect((await v.tokens('bank')).map((t) => t.label)).toEqual(['ops desk']);
      expect((await v.session('bank', 'young').state()).messages).toHaveLength(1);
    });
  });

  it('a purge it makes in SQL, with no record in the trail, is named by verify, and its archive object is left until an operator purges on the record', async () => {
    await asJob(async (job) => {
      const forged = `INSERT INTO tombstones (tenant_id, session_id, head_seq, archive_digest, last_at, due_at, purged_at, purged_by, policy)
        SELECT tenant_id, session_id, head_seq, '\\x00'::bytea, last_at, last_at + interval '3 days', last_at + interval '4 days', 'retention-job', 'retain=3d' FROM sessions WHERE session_id = 'young'`;
      await withTenant(storeOf(job).db, 'bank', 'attack', async (tx) => {
        await tx.execute(sql.raw(forged));
        await tx.execute(sql.raw(`UPDATE sessions SET status = 'purged', wrapped_data_key = NULL WHERE session_id = 'young'`));
      });
    });
    await withVault(async (v) => expect((await v.verify({ tenant: 'bank' })).problems).toEqual(expect.arrayContaining([expect.objectContaining({ session: 'young', kind: 'purge_unrecorded' })])));
    // Its archive object is all that a key restored from a backup would open: the vault's own run does not delete it on that purge's behalf.
    const object = join(store.home, 'archive', archiveObjectName('bank', 'young', 2));
    expect(existsSync(object)).toBe(true);
    const runs: string[][] = [];
    await asJob(async (job) => {
      for await (const i of job.operator({ actor: 'retention-job', reason: 'nightly' }).retentionRun({ tenant: 'bank' })) runs.push([i.session, i.action, i.outcome]);
    });
    expect(runs).toEqual([['young', 'finish-purge', 'failed:PURGE_UNRECORDED']]);
    expect(existsSync(object)).toBe(true);
    // From the CLI, the nightly job's exit code says so: an integrity problem (1), not a storage one.
    const cli = await runCli({ VAULT_HOME: store.home, ...(store.database ? { VAULT_DATABASE_URL: store.database } : {}) }, ['retention', 'run', '--tenant', 'bank', '--json', '--actor', 'retention-job']);
    expect([cli.code, cli.stdout.trim().split('\n').map((l) => JSON.parse(l) as { session: string; action: string; outcome: string }).map((i) => [i.session, i.action, i.outcome])]).toEqual([1, [['young', 'finish-purge', 'failed:PURGE_UNRECORDED']]]);
    expect(existsSync(object)).toBe(true);
    // An operator who decides it, on the record, has it deleted.
    await withVault(async (v) => {
      expect(await v.operator({ actor: 'ops', reason: 'incident 12: purge confirmed' }).purge('bank', 'young')).toMatchObject({ session: 'young', purgedAt: '2026-02-07T09:00:00.000Z' });
      const purges: string[][] = [];
      for await (const r of v.accessLog({ tenant: 'bank' })) if (r.action === 'retention.purge') purges.push([r.actor, r.session ?? '', r.outcome]);
      expect(purges).toEqual([
        ['retention-job', 'old', 'granted'],
        ['ops', 'young', 'granted'],
      ]);
    });
    expect(existsSync(object)).toBe(false);
    runs.length = 0;
    await asJob(async (job) => {
      for await (const i of job.operator({ actor: 'retention-job', reason: 'nightly' }).retentionRun({ tenant: 'bank' })) runs.push([i.session, i.action, i.outcome]);
    });
    expect(runs).toEqual([]);
  });
});

describe.each(backends().filter((b) => b.name === 'postgres'))("the retention job's own login, on $name", (backend) => {
  it('acts as the retention role by default, runs `retention run`, and `retention set` exits 4', async () => {
    const h = await tempHome();
    const url = await backend.database();
    const admin = new Client({ connectionString: adminUrl() });
    await admin.connect();
    const login = `sv_job_${randomBytes(3).toString('hex')}`;
    const as = new URL(url);
    as.username = login;
    try {
      const owner = await openVault({ home: h.home, database: url, logger: quiet });
      await owner.createTenant('bank');
      await owner.session('bank', 's').append({ type: 'task', task: 'x' });
      await owner.close();
      await admin.query(`CREATE ROLE ${login} LOGIN ${adminPassword()}`);
      await admin.query(`GRANT session_vault_retention TO ${login}`);
      const job = await openVault({ home: h.home, database: as.toString(), migrate: false, logger: quiet });
      try {
        expect(storeOf(job).layout.role).toBe('session_vault_retention');
        expect((await job.roles()).logins.find((l) => l.login === login)).toEqual({ login, superuser: false, bypassRls: false, app: true, operator: false, retention: true, legal: false, auditor: false });
      } finally {
        await job.close();
      }
      const env = { VAULT_HOME: h.home, VAULT_DATABASE_URL: as.toString() };
      const run = await runCli(env, ['retention', 'run', '--json', '--actor', 'retention-job']);
      expect([run.code, run.stderr]).toEqual([0, '']);
      const set = await runCli(env, ['retention', 'set', 'bank', '--archive-after', '1d', '--retain', '1d', '--actor', 'mallory']);
      expect([set.code, set.stderr]).toEqual([4, expect.stringMatching(/^error\[PERMISSION_DENIED\]: database refused .*insufficient privilege/)]);
      expect((await runCli(env, ['roles'])).stdout).toContain(`${login}\tretention\n`);
    } finally {
      h.cleanup();
      await admin.query(`DROP ROLE IF EXISTS ${login}`).catch(() => {});
      await admin.end();
    }
  }, 120_000);
});
