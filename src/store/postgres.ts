import { Client, Pool } from 'pg';
import { StorageError } from '../errors';
import { drizzle } from 'drizzle-orm/node-postgres';
import * as schema from './schema';
import { APP_ROLE, checkSchemaState, migratePostgres, schemaState } from './migrate';
import { storageError } from './errors';
import type { Store, VaultDb } from './types';

/**
 * A Postgres server through a `pg` pool and drizzle-orm/node-postgres. Every pooled
 * connection acts as the application role (startup option `role`), so row-level security and the
 * append-only privileges hold whatever login role the URL names.
 */
export async function openPostgres(url: string, options: { migrate: boolean; create?: boolean; poolSize?: number; roleOnConnect?: boolean }): Promise<Store> {
  try {
    if (options.create === false || !options.migrate) {
      // Look first, as the login role, without creating anything.
      const probe = new Client({ connectionString: url });
      await probe.connect();
      try {
        const state = await schemaState(async (text) => (await probe.query(text)).rows);
        if (options.create === false && !state.vault) throw new StorageError('NO_VAULT', `no vault in ${redact(url)}: run \`session-vault init\` first`);
        if (!options.migrate) checkSchemaState(state, redact(url));
      } finally {
        await probe.end();
      }
    }
    if (options.migrate) await migratePostgres(url);
    // The role is a startup parameter, so a connection acts as the app role from its
    // first statement: there is no window in which it runs as the login role.
    // Behind PgBouncer (transaction pooling) or RDS Proxy a startup option does not reach the
    // server: then the login role carries it instead (ALTER ROLE … SET role =
    // session_vault_app; docs/operations.md) and `roleOnConnect: false` sends none. The probe
    // below refuses either way unless the connection really acts as the application role.
    const pool = new Pool({ connectionString: url, max: options.poolSize ?? 10, ...(options.roleOnConnect === false ? {} : { options: `-c role=${APP_ROLE}` }) });
    // Idle clients that lose their server emit 'error' on the pool; the next query reports it.
    pool.on('error', () => {});
    const db = drizzle(pool, { schema }) as unknown as VaultDb;
    const probe = await pool.query('SELECT current_user AS role');
    if (probe.rows[0]?.role !== APP_ROLE) {
      await pool.end().catch(() => {});
      throw new StorageError(
        'STORAGE_REFUSED',
        `connections to ${hostOf(url)} act as ${JSON.stringify(String(probe.rows[0]?.role ?? '?'))}, not ${APP_ROLE}: ${options.roleOnConnect === false ? `give the login role the setting (ALTER ROLE … SET role = ${APP_ROLE})` : 'the role startup option did not take effect'}`,
      );
    }
    return { db, kind: 'postgres', location: redact(url), close: () => pool.end() };
  } catch (e) {
    throw storageError(e, `connecting to Postgres at ${hostOf(url)}`);
  }
}

/** host:port of a URL (never its credentials), for messages. */
function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}`;
  } catch {
    return '(unparseable url)';
  }
}

/** The URL without its password, for logs and `init --json`. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}
