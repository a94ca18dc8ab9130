import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { adminPassword, adminUrl, backends, tempHome } from '../support/backends';
import { runCli } from '../support/cli';

/**
 * The deployment operations.md gives, on a server where the vault's owner is not a
 * superuser (as on a managed Postgres: RDS, Cloud SQL): an owner login that may create
 * roles and the schema runs `init`; the operators' login creates tenants; the agents'
 * login appends; the retention job's login archives. `init` acted as a role of the vault's
 * family, which the owner that created them need not be a member of, so it failed
 * (`PERMISSION_DENIED`, "may not act as …_app") after migrating; and every command that
 * may create (`tenant create`) ran the migrations again, whose `CREATE SCHEMA IF NOT
 * EXISTS` the operators' login may not (`PERMISSION_DENIED`). Now `init` acts as its login,
 * and registers the release key the retention job's archive needs (drizzle/0078); a
 * current vault is not migrated again.
 */

// Logins and their privileges are the server's: the embedded store has one superuser.
describe.each(backends().filter((b) => b.name === 'postgres'))('a vault whose owner is not a superuser, on $name', () => {
  it('the owner runs init, the operators create a tenant, the agent appends and the retention job archives', async () => {
    const admin = new Client({ connectionString: adminUrl() });
    await admin.connect();
    const owner = `sv_own_${randomBytes(3).toString('hex')}`;
    const db = `${owner}_db`;
    const h = await tempHome();
    const as = (login: string) => {
      const u = new URL(adminUrl());
      u.username = login;
      u.pathname = `/${db}`;
      return u.toString();
    };
    try {
      await admin.query(`CREATE DATABASE ${db}`);
      await admin.query(`CREATE ROLE ${owner} LOGIN CREATEROLE ${adminPassword()}`);
      await admin.query(`GRANT CREATE ON DATABASE ${db} TO ${owner}`);
      const init = await runCli({ VAULT_HOME: h.home, VAULT_DATABASE_URL: as(owner), VAULT_APP_ROLE: `${owner}_app` }, ['init']);
      expect([init.code, init.stderr]).toEqual([0, '']);
      for (const [login, role] of [['ops', 'operator'], ['agent', 'app'], ['job', 'retention']]) {
        await admin.query(`CREATE ROLE ${owner}_${login} LOGIN ${adminPassword()}`);
        await admin.query(`GRANT ${owner}_${role} TO ${owner}_${login}`);
      }
      const cli = (login: string, role: string, args: string[]) => runCli({ VAULT_HOME: h.home, VAULT_DATABASE_URL: as(`${owner}_${login}`), VAULT_APP_ROLE: `${owner}_${role}` }, args);
      expect(await cli('ops', 'operator', ['tenant', 'create', 'bank'])).toMatchObject({ code: 0, stderr: '' });
      expect(await cli('agent', 'app', ['append', 'bank', 'claim-7', '--event', JSON.stringify({ type: 'task', task: 'refund' })])).toMatchObject({ code: 0, stderr: '' });
      const archived = await cli('job', 'retention', ['archive', 'bank', 'claim-7', '--actor', 'retention-job']);
      expect([archived.code, archived.stderr, archived.stdout]).toEqual([0, '', expect.stringMatching(/^archived bank\/claim-7: 1 event\(s\)/)]);
      // The release key is init's, registered once; the job's login reads none of its pads.
      const job = new Client({ connectionString: as(`${owner}_job`) });
      await job.connect();
      try {
        await expect(job.query(`SELECT inner_pad FROM session_vault.release_key_secret`)).rejects.toThrow(/permission denied/);
      } finally {
        await job.end();
      }
    } finally {
      h.cleanup();
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
      const roles = await admin.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY length(rolname) DESC`, [`${owner}%`]);
      for (const { rolname } of roles.rows) await admin.query(`DROP ROLE IF EXISTS ${rolname}`).catch(() => {});
      await admin.end();
    }
  }, 120_000);
});
