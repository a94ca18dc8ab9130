import { Client } from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import { storeOf, type Vault } from '../../src/vault/vault';

/**
 * Runs SQL as the database owner with triggers disabled (session_replication_role =
 * replica) — what a rogue DBA or an attacker with superuser could do, and what the
 * append-only guard cannot stop. Tests use it to tamper and then check `verify`. With
 * `triggers: 'on'`, as the owner with the triggers in force (a data-only restore).
 */
export async function asOwner(vault: Vault, url: string, statements: { text: string; values?: unknown[] }[], options: { triggers?: 'off' | 'on' } = {}): Promise<unknown[][]> {
  const results: unknown[][] = [];
  const mode = options.triggers === 'on' ? 'DEFAULT' : 'replica';
  if (url === 'memory://' || !/^postgres/.test(url)) {
    const pglite = (storeOf(vault).db as unknown as { $client: PGlite }).$client;
    await pglite.exec(`RESET ROLE; SET session_replication_role = ${mode};`);
    try {
      for (const s of statements) results.push((await pglite.query(s.text, s.values ?? [])).rows);
    } finally {
      await pglite.exec(`RESET ROLE; SET session_replication_role = DEFAULT; SET ROLE ${storeOf(vault).layout.role};`);
    }
    return results;
  }
  const c = new Client({ connectionString: url, options: `-c search_path=${storeOf(vault).layout.schema}` });
  await c.connect();
  try {
    await c.query(`SET session_replication_role = ${mode}`);
    for (const s of statements) results.push((await c.query(s.text, s.values ?? [])).rows);
  } finally {
    await c.end();
  }
  return results;
}

/** Runs SQL on the vault's own application connection (role session_vault_app), outside any tenant scope. */
export async function asApp(vault: Vault, text: string): Promise<unknown[]> {
  const { sql } = await import('drizzle-orm');
  const res = await storeOf(vault).db.execute(sql.raw(text));
  return (res as unknown as { rows: unknown[] }).rows;
}
