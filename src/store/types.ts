import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import type * as schema from './schema';
import type { StoreLayout } from './layout';
import type { Statement } from './statement';

type Schema = typeof schema;

/** A drizzle database on either driver (node-postgres or PGlite). */
export type VaultDb = PgDatabase<PgQueryResultHKT, Schema>;

/** A transaction scoped to one tenant (see withTenant). Queries take this, never the bare db. */
export type TenantTx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;

/** Which backend a store runs on. */
export type StoreKind = 'postgres' | 'pglite' | 'memory';

/** An open database: the drizzle handle, what it is, and how to close it. */
export interface Store {
  readonly db: VaultDb;
  readonly kind: StoreKind;
  /** Where the data lives, without credentials (for `init --json` and logs). */
  readonly location: string;
  /** The schema, the role family and the role it acts as (src/store/layout.ts). */
  readonly layout: StoreLayout;
  /**
   * Runs one statement on its own, outside any transaction (it has committed when this
   * resolves), and returns its rows: on a server as a named prepared statement, parsed and
   * planned once a connection; on PGlite straight through its query. The hot path (an
   * append) takes this instead of drizzle's query builder, whose per-call cost was about
   * a sixth of a single append's client time. Driver errors reach the caller as the
   * driver raised them, to be translated there (storageError, sqlState).
   */
  run<R>(statement: Statement, values: readonly unknown[]): Promise<R[]>;
  /**
   * On a server only: runs one SELECT on its own, outside any transaction, as
   * `COPY (…) TO STDOUT (FORMAT binary)`, and returns the whole output
   * (src/store/copy-binary.ts reads it). COPY takes no parameters, so values reach
   * `select` as literals (`sqlLiteral`). The full read's pages come this way: their
   * columns cross as stored, with no text to parse. PGlite has no such stream (its COPY
   * writes a virtual file, which the application role may not). Driver errors reach the
   * caller as the driver raised them.
   */
  readonly copyRows?: (select: string) => Promise<Buffer>;
  /**
   * Runs one statement on its own as the login itself, not as the role the store acts as:
   * the release key's registration, which only the tables' owner may make (drizzle/0080),
   * made by the process that needs the key first. Absent where the process was asked to
   * act as a given role (`appRole`): it then acts as that role alone. Driver errors reach
   * the caller as the driver raised them.
   */
  readonly runAsLogin?: <R>(statement: Statement, values: readonly unknown[]) => Promise<R[]>;
  close(): Promise<void>;
}

/** The rows of a raw `db.execute` result; node-postgres and PGlite both return `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}
