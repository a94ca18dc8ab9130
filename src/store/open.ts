import path from 'node:path';
import { InputError } from '../errors';
import { openPglite } from './pglite';
import { openPostgres } from './postgres';
import type { Store } from './types';
import { storeLayout } from './layout';

export interface StoreOptions {
  /** `postgres://…`, `postgresql://…`, `memory://`, or undefined for the embedded store in `home`. */
  url: string | undefined;
  home: string;
  lockTimeoutMs: number;
  migrate: boolean;
  /**
   * Create the store when there is none (a new embedded folder, an empty database).
   * When false, a missing vault is NO_VAULT and nothing is created or migrated: read-only
   * commands never leave a store behind.
   */
  create?: boolean;
  /** Called once when the embedded store is held by another process, before waiting up to lockTimeoutMs for it. */
  onLockWait?: (dir: string, timeoutMs: number) => void;
  /** Postgres: set the application role with a startup option (default), or rely on the login role's own setting (poolers). */
  roleOnConnect?: boolean;
  /**
   * Postgres: act as the login role itself, not as a role of the vault's family (`init`,
   * whose login is the tables' owner and may be a member of none of them). The embedded
   * store ignores it.
   */
  asLogin?: boolean;
  /** The schema of the vault's tables (default session_vault; a vault made in `public` by an earlier version is found there). */
  schema?: string | undefined;
  /**
   * The role connections act as (cluster-wide on a server): `…_app`, `…_operator` or
   * `…_auditor` of the vault's family (layout.ts). Default: session_vault_operator if the
   * login may act as it, else session_vault_app.
   */
  appRole?: string | undefined;
  /** Postgres: the statement timeout in ms (0: none) and, capped at 10 s, the connect timeout (see VaultOptions). */
  statementTimeoutMs?: number | undefined;
}

/** Picks the driver from the URL (CLI contract: "Where the vault lives"). */
export async function openStore(o: StoreOptions): Promise<Store> {
  storeLayout(o.schema, o.appRole); // names checked before any connection
  const url = o.url;
  if (url === undefined || url === '') return openPglite(path.join(o.home, 'db'), o);
  if (url === 'memory://') return openPglite(null, o);
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, o);
  throw new InputError('INVALID_CONFIG', 'database URL must start with postgres://, postgresql:// or be memory://');
}
