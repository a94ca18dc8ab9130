import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { runCli } from '../support/cli';
import { openVault, type Vault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { storeOf } from '../../src/vault/vault';
import { sql } from 'drizzle-orm';

/**
 * The vault's tables live in a schema of their own (default session_vault), so they do
 * not collide with an application's `events` or `sessions`, and two vaults can share one
 * database with different schemas and application roles, neither reaching the other.
 */
afterAll(dropCreatedDatabases);

const quiet = createLogger({ level: 'silent' });
const bare = () => mkdtempSync(path.join(os.tmpdir(), 'sv-schema-'));
const home = async () => (await tempHome()).home;

/** The server's own message for a refused query (drizzle wraps it as the cause). */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return String(((e as { cause?: Error }).cause ?? (e as Error)).message);
  }
  return 'not refused';
}

async function rows(vault: Vault, text: string): Promise<Record<string, unknown>[]> {
  return ((await storeOf(vault).db.execute(sql.raw(text))) as unknown as { rows: Record<string, unknown>[] }).rows;
}

describe.each(backends())('schemas and application roles on $name', (backend) => {
  it('tables go to session_vault by default, and an application table called events is left alone', async () => {
    const url = await backend.database();
    const vault = await openVault({ home: await home(), database: url, logger: quiet });
    try {
      await vault.createTenant('bank');
      await vault.session('bank', 's').append({ type: 'task', task: 'in its own schema' });
      const found = await rows(vault, `SELECT table_schema FROM information_schema.tables WHERE table_name = 'events'`);
      expect(found.map((r) => r.table_schema)).toEqual(['session_vault']);
      expect(storeOf(vault).layout).toEqual({ schema: 'session_vault', migrationsSchema: 'session_vault', appRole: 'session_vault_app', operatorRole: 'session_vault_operator', retentionRole: 'session_vault_retention', legalRole: 'session_vault_legal', auditorRole: 'session_vault_auditor', role: 'session_vault_operator', roleAsked: false });
      // Every PL/pgSQL function resolves its tables in the vault's schema, whatever the caller's path.
      const unpinned = await rows(
        vault,
        `SELECT p.proname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.pronamespace = 'session_vault'::regnamespace AND l.lanname = 'plpgsql'
           AND NOT coalesce(p.proconfig @> ARRAY['search_path=session_vault, pg_temp'], false)`,
      );
      expect(unpinned).toEqual([]);
    } finally {
      await vault.close();
    }
  }, 120_000);

  it('a vault an earlier version made in public is found there when no schema is asked for', async () => {
    const url = await backend.database();
    const h = await home();
    const legacy = await openVault({ home: h, database: url, schema: 'public', logger: quiet });
    await legacy.createTenant('bank');
    await legacy.session('bank', 's').append({ type: 'task', task: 'legacy' });
    await legacy.close();
    if (url === 'memory://') return; // a memory store does not outlive its vault
    const reopened = await openVault({ home: h, database: url, migrate: false, logger: quiet });
    try {
      expect(storeOf(reopened).layout.schema).toBe('public');
      expect((await reopened.session('bank', 's').state()).currentTask).toBe('legacy');
      expect((await reopened.verify()).ok).toBe(true);
    } finally {
      await reopened.close();
    }
  }, 120_000);

  it('a bad schema or role name is INVALID_CONFIG before anything is created', async () => {
    for (const o of [{ schema: 'x; DROP SCHEMA public' }, { appRole: 'Admin' }, { schema: 'pg_toast' }]) {
      await expect(openVault({ home: await home(), database: 'memory://', logger: quiet, ...o })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    }
  });
});

const pg = backends().find((b) => b.name === 'postgres');
(pg ? describe : describe.skip)('two vaults in one Postgres database', () => {
  it("each acts as its own role in its own schema; one vault's roles cannot read or write the other's tables", async () => {
    const url = await pg!.database();
    const tag = randomBytes(3).toString('hex');
    const a = await openVault({ home: await home(), database: url, schema: `vault_a_${tag}`, appRole: `vault_a_${tag}_operator`, logger: quiet });
    const b = await openVault({ home: await home(), database: url, schema: `vault_b_${tag}`, appRole: `vault_b_${tag}_operator`, logger: quiet });
    try {
      await a.createTenant('bank');
      await b.createTenant('bank');
      await a.session('bank', 's').append({ type: 'task', task: 'vault a' });
      await b.session('bank', 's').append({ type: 'task', task: 'vault b' });
      expect((await a.session('bank', 's').state()).currentTask).toBe('vault a');
      expect((await b.session('bank', 's').state()).currentTask).toBe('vault b');
      expect((await rows(a, 'SELECT current_user AS u, current_schema() AS s'))[0]).toEqual({ u: `vault_a_${tag}_operator`, s: `vault_a_${tag}` });
      // The attack: vault A's connection (its operator role, a member of its application role) reaches for vault B's tables by name.
      expect(await refusal(rows(a, `SELECT * FROM vault_b_${tag}.events`))).toMatch(/permission denied for schema vault_b_/);
      expect(await refusal(rows(a, `INSERT INTO vault_b_${tag}.tenants (tenant_id) VALUES ('intruder')`))).toMatch(/permission denied for schema vault_b_/);
      expect((await a.verify()).ok).toBe(true);
      expect((await b.verify()).ok).toBe(true);
    } finally {
      await a.close();
      await b.close();
      const c = new Client({ connectionString: url });
      await c.connect();
      for (const v of ['a', 'b']) {
        await c.query(`DROP SCHEMA vault_${v}_${tag} CASCADE`).catch(() => {});
        for (const role of [`vault_${v}_${tag}_operator`, `vault_${v}_${tag}_retention`, `vault_${v}_${tag}_legal`, `vault_${v}_${tag}_app`, `vault_${v}_${tag}_auditor`]) {
          await c.query(`DROP OWNED BY ${role}`).catch(() => {});
          await c.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
        }
      }
      await c.end();
    }
  }, 180_000);

  it('the CLI takes the schema from --schema or VAULT_DB_SCHEMA', async () => {
    const url = await pg!.database();
    const h = bare();
    const env = { VAULT_HOME: h, VAULT_DATABASE_URL: url, VAULT_DB_SCHEMA: 'agents_vault' };
    expect((await runCli(env, ['init'])).code).toBe(0);
    expect((await runCli(env, ['tenant', 'create', 'bank'])).code).toBe(0);
    const appended = await runCli(env, ['append', 'bank', 's1', '--event', JSON.stringify({ type: 'task', task: 'cli' })]);
    expect(appended.code).toBe(0);
    expect((await runCli(env, ['verify'])).code).toBe(0);
    // Without the schema the default one holds no vault: nothing is created there.
    const elsewhere = await runCli({ VAULT_HOME: h, VAULT_DATABASE_URL: url }, ['verify', '--schema', 'nowhere']);
    expect(elsewhere.code).toBe(4);
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      const schemas = await c.query(`SELECT nspname FROM pg_namespace WHERE nspname IN ('agents_vault', 'nowhere', 'session_vault') ORDER BY 1`);
      expect(schemas.rows.map((r) => r.nspname)).toEqual(['agents_vault']);
    } finally {
      await c.end();
    }
  }, 180_000);
});
