import { existsSync, readFileSync } from 'node:fs';
import { StorageError } from '../errors';
import path from 'node:path';
import { Client } from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';

/** drizzle/ at the package root: the nearest folder above this file holding drizzle/meta/_journal.json. */
export const MIGRATIONS_FOLDER = findMigrations(__dirname);

function findMigrations(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'drizzle');
    if (existsSync(path.join(candidate, 'meta', '_journal.json'))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`session-vault: no drizzle/ migrations folder above ${from}`);
  }
}

/** The role the application acts as (drizzle/0001_security.sql). */
export const APP_ROLE = 'session_vault_app';

/** An arbitrary constant: the advisory lock that serialises concurrent migrations. */
const MIGRATION_LOCK = 0x5e55_1011;

/**
 * Applies pending migrations on a Postgres server as the connecting (owner) role, under
 * an advisory lock so concurrent `init`s and first opens do not race.
 */
export async function migratePostgres(url: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await migratePg(drizzlePg(client), { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    await client.end();
  }
}

/** Applies pending migrations on a PGlite instance (one connection, so no race). */
export async function migratePglite(pglite: PGlite): Promise<void> {
  // Loaded here, not at the top: PGlite is optional, and a server vault never needs it.
  const [{ drizzle }, { migrate }] = await Promise.all([import('drizzle-orm/pglite'), import('drizzle-orm/pglite/migrator')]);
  await migrate(drizzle(pglite), { migrationsFolder: MIGRATIONS_FOLDER });
}

/** How many migrations this version of the package has (drizzle/meta/_journal.json). */
export function knownMigrations(): number {
  return (JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }).entries.length;
}

/**
 * Whether a database holds a vault, and how many of our migrations it has applied: the
 * vault's tables (public.events) and drizzle's own record of applied migrations. Reads
 * only; creates nothing.
 */
export async function schemaState(query: <R>(text: string) => Promise<R[]>): Promise<{ vault: boolean; applied: number }> {
  const [found] = await query<{ vault: boolean; migrations: boolean }>(
    `SELECT to_regclass('public.events') IS NOT NULL AS vault, to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS migrations`,
  );
  if (!found!.migrations) return { vault: found!.vault, applied: 0 };
  const [count] = await query<{ applied: number }>('SELECT count(*)::int AS applied FROM drizzle.__drizzle_migrations');
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
