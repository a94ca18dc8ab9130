import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { StorageError } from '../errors';
import path from 'node:path';
import { Client } from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import { migrationSql, type StoreLayout } from './layout';

/** drizzle/ at the package root: the nearest folder above this file holding drizzle/meta/_journal.json. */
export const MIGRATIONS_FOLDER = findMigrations(__dirname);

function findMigrations(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'drizzle');
    if (existsSync(path.join(candidate, 'meta', '_journal.json'))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`session-vault: no drizzle/ migrations folder above ${from}`);
  }
}

/** An arbitrary constant: the advisory lock that serialises concurrent migrations. */
const MIGRATION_LOCK = 0x5e55_1011;

/**
 * The migrations folder for a layout: drizzle/ itself for the legacy one, else a private
 * temporary copy with the layout's names in the SQL (migrationSql), removed after use.
 */
async function withMigrationsFor<T>(layout: StoreLayout, run: (config: { migrationsFolder: string; migrationsSchema: string }) => Promise<T>): Promise<T> {
  const files = readdirSync(MIGRATIONS_FOLDER).filter((f) => f.endsWith('.sql'));
  const same = files.every((f) => {
    const text = readFileSync(path.join(MIGRATIONS_FOLDER, f), 'utf8');
    return migrationSql(text, layout) === text;
  });
  const config = (folder: string) => ({ migrationsFolder: folder, migrationsSchema: layout.migrationsSchema });
  if (same) return run(config(MIGRATIONS_FOLDER));
  const folder = mkdtempSync(path.join(os.tmpdir(), 'session-vault-migrations-'));
  try {
    mkdirSync(path.join(folder, 'meta'));
    copyFileSync(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), path.join(folder, 'meta', '_journal.json'));
    for (const f of files) writeFileSync(path.join(folder, f), migrationSql(readFileSync(path.join(MIGRATIONS_FOLDER, f), 'utf8'), layout));
    return await run(config(folder));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/**
 * Applies pending migrations on a Postgres server as the connecting (owner) role, under
 * an advisory lock so concurrent `init`s and first opens do not race. The vault's schema
 * is created if missing and is first on the migration's search_path, so every table and
 * function lands in it.
 */
export async function migratePostgres(url: string, layout: StoreLayout, connectionTimeoutMillis = 0): Promise<void> {
  // No statement timeout here: a migration may rebuild an index over a large table.
  const client = new Client({ connectionString: url, connectionTimeoutMillis });
  client.on('error', () => {}); // its statements fail with the error; the event alone would end the process
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${layout.schema}`);
      await client.query(`SET search_path TO ${layout.schema}`);
      await withMigrationsFor(layout, (config) => migratePg(drizzlePg(client), config));
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    await client.end();
  }
}

/** Applies pending migrations on a PGlite instance (one connection, so no race). */
export async function migratePglite(pglite: PGlite, layout: StoreLayout): Promise<void> {
  // Loaded here, not at the top: PGlite is optional, and a server vault never needs it.
  const [{ drizzle }, { migrate }] = await Promise.all([import('drizzle-orm/pglite'), import('drizzle-orm/pglite/migrator')]);
  await pglite.exec(`CREATE SCHEMA IF NOT EXISTS ${layout.schema}; SET search_path TO ${layout.schema}`);
  await withMigrationsFor(layout, (config) => migrate(drizzle(pglite), config));
}

/** How many migrations this version of the package has (drizzle/meta/_journal.json). */
export function knownMigrations(): number {
  return (JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }).entries.length;
}

/**
 * Whether a database holds a vault, and how many of our migrations it has applied: the
 * vault's tables (<schema>.events) and drizzle's own record of applied migrations. Reads
 * only; creates nothing.
 */
export async function schemaState(query: <R>(text: string) => Promise<R[]>, layout: StoreLayout): Promise<{ vault: boolean; applied: number }> {
  const migrations = `${layout.migrationsSchema}.__drizzle_migrations`;
  const [found] = await query<{ vault: boolean; migrations: boolean }>(
    `SELECT to_regclass('${layout.schema}.events') IS NOT NULL AS vault, to_regclass('${migrations}') IS NOT NULL AS migrations`,
  );
  if (!found!.migrations) return { vault: found!.vault, applied: 0 };
  const [count] = await query<{ applied: number }>(`SELECT count(*)::int AS applied FROM ${migrations}`);
  return { vault: found!.vault, applied: count!.applied };
}

/** Shared by both drivers: what a schema state means for a command that may not migrate. */
export function checkSchemaState(state: { vault: boolean; applied: number }, where: string): void {
  if (!state.vault) throw new StorageError('NO_VAULT', `no vault at ${where}: run \`session-vault init\` first`);
  const known = knownMigrations();
  if (state.applied < known) {
    throw new StorageError('STORAGE_REFUSED', `the vault at ${where} has ${state.applied} of this version's ${known} migrations: run \`session-vault init\` to migrate it`);
  }
}
