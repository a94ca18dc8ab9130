import { Client, Pool, type ClientBase } from 'pg';
import type { Socket } from 'node:net';
import { to as copyTo } from 'pg-copy-streams';
import type { Readable } from 'node:stream';
import { StorageError } from '../errors';
import { drizzle } from 'drizzle-orm/node-postgres';
import * as schema from './schema';
import { checkSchemaState, knownMigrations, migratePostgres, schemaState } from './migrate';
import { actingRole, resolveLayout, type StoreLayout } from './layout';
import { storageError } from './errors';
import type { Store, VaultDb } from './types';
import type { Statement } from './statement';

/**
 * A Postgres server through a `pg` pool and drizzle-orm/node-postgres. Every pooled
 * connection acts as one role of the vault's family (startup option `role`: layout.ts), so
 * row-level security and the role's privileges hold whatever login role the URL names.
 */
export async function openPostgres(
  url: string,
  options: { migrate: boolean; create?: boolean; poolSize?: number; roleOnConnect?: boolean; asLogin?: boolean; schema?: string | undefined; appRole?: string | undefined; statementTimeoutMs?: number | undefined },
): Promise<Store> {
  const timeout = options.statementTimeoutMs ?? 0;
  // A server that accepts the connection and never answers (a dead peer behind a load
  // balancer) fails the open or the checkout instead of hanging for the OS's minutes.
  const connectionTimeoutMillis = timeout > 0 ? Math.min(timeout, CONNECT_TIMEOUT_CAP_MS) : 0;
  try {
    // Look first, as the login role, without creating anything: which layout, and whether
    // a command that may not create or migrate finds a current vault.
    let layout: StoreLayout;
    const probe = new Client({ connectionString: url, connectionTimeoutMillis });
    probe.on('error', () => {}); // its statements fail with the error; the event alone would end the process
    await probe.connect();
    try {
      const query = async <R>(text: string) => (await probe.query(text)).rows as R[];
      layout = await resolveLayout(options, query);
      const state = await schemaState(query, layout);
      if (options.create === false && !state.vault) throw new StorageError('NO_VAULT', `no vault in ${redact(url)} (schema ${layout.schema}): run \`session-vault init\` first`);
      if (!options.migrate) checkSchemaState(state, redact(url));
      // Only with something to apply: a login that may not create the schema (an operator's
      // `tenant create`) opens a current vault, which migrating would refuse it.
      else if (!state.vault || state.applied < knownMigrations()) await migratePostgres(url, layout, connectionTimeoutMillis);
      // No role asked for: the operator role if this login may act as it, else the retention role (they exist once migrated).
      const member = (role: string) => `coalesce((SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = '${role}'), false)`;
      const [may] = await query<{ operate: boolean; retain: boolean }>(`SELECT ${member(layout.operatorRole)} AS operate, ${member(layout.retentionRole)} AS retain`);
      const onConnect = options.roleOnConnect !== false;
      layout = actingRole(layout, { operate: onConnect && may!.operate, retain: onConnect && may!.retain });
    } finally {
      await probe.end();
    }
    // The role is a startup parameter, so a connection acts as its role from its first
    // statement: there is no window in which it runs as the login role.
    // Behind PgBouncer (transaction pooling) or RDS Proxy a startup option does not reach the
    // server: then the login role carries it instead (ALTER ROLE … SET role =
    // session_vault_app; docs/operations.md) and `roleOnConnect: false` sends none. The probe
    // below refuses either way unless the connection really acts as a role of the vault's family.
    // The schema travels the same way (search_path), so every unqualified table name the
    // queries use resolves in the vault's schema.
    // The timeouts travel the same way. The server cancels a statement (a lock wait
    // included) past the statement timeout, so the call fails typed (57014) with nothing
    // written; and it ends a connection whose transaction sat idle as long (25P03): a
    // client that froze mid-transaction (a GC pause, a SIGSTOP, a hung host) does not hold
    // its sessions' heads, and every other writer to them, for ever.
    const timeouts = timeout > 0 ? ` -c statement_timeout=${timeout} -c idle_in_transaction_session_timeout=${timeout}` : '';
    // `init` acts as its login (the tables' owner), with no role of the family to set.
    const startup = `${options.asLogin ? '' : `-c role=${layout.role} `}-c search_path=${layout.schema}${timeouts}`;
    // Each new connection is made ready before the pool lends it out (onConnect):
    // - A lent client has no 'error' listener of the pool's (pool.query adds one for its own
    //   query; a transaction or a COPY gets none), and a connection reset or a terminated
    //   backend while it is lent is then an unhandled 'error' event: the process dies. Each
    //   client listens for its whole life instead. The statement in flight fails with the
    //   error (node-postgres hands it to every queued query), and the pool drops the client
    //   when it comes back unqueryable.
    // - It is ended when a statement hears nothing for twice the timeout (endWhenSilent).
    // - Its backend keeps its freed memory for the next statement (keepBackendHeap).
    const ready = async (client: ClientBase) => {
      client.on('error', () => {});
      if (timeout > 0) endWhenSilent(client, 2 * timeout);
      await keepBackendHeap(client);
    };
    const pool = new Pool({ connectionString: url, max: options.poolSize ?? 10, connectionTimeoutMillis, keepAlive: true, onConnect: ready, ...(options.roleOnConnect === false ? {} : { options: startup }) });
    // Idle clients that lose their server emit 'error' on the pool; the next query reports it.
    pool.on('error', () => {});
    const db = drizzle(pool, { schema }) as unknown as VaultDb;
    const acting = (await pool.query('SELECT current_user AS role, current_schema() AS schema')).rows[0] as { role?: string; schema?: string | null } | undefined;
    const refuse = (what: string, setting: string) => {
      const fix = options.roleOnConnect === false ? `give the login role the setting (ALTER ROLE … SET ${setting})` : 'the startup option did not take effect';
      return new StorageError('STORAGE_REFUSED', `connections to ${hostOf(url)} ${what}: ${fix}`);
    };
    // Behind a pooler the login's own setting names the role: any of the family's, unless one was asked for.
    const family = [layout.appRole, layout.operatorRole, layout.retentionRole, layout.legalRole, layout.auditorRole];
    if (options.roleOnConnect === false && !layout.roleAsked && family.includes(String(acting?.role))) layout = { ...layout, role: String(acting!.role) };
    if (options.asLogin && acting?.role) layout = { ...layout, role: acting.role };
    if (acting?.role !== layout.role) {
      await pool.end().catch(() => {});
      throw refuse(`act as ${JSON.stringify(String(acting?.role ?? '?'))}, not ${layout.role}`, `role = ${layout.role}`);
    }
    if (acting.schema !== layout.schema) {
      await pool.end().catch(() => {});
      throw refuse(`resolve tables in ${JSON.stringify(String(acting.schema ?? '(none)'))}, not the vault's schema ${layout.schema}`, `search_path = ${layout.schema}`);
    }
    // Named (prepared once a connection) on a direct connection; unnamed behind a pooler
    // (roleOnConnect: false), where the next transaction may reach a server connection that
    // never saw the statement prepared (PgBouncer in transaction mode).
    const named = options.roleOnConnect !== false;
    const run = async <R>(st: Statement, values: readonly unknown[]) =>
      (await pool.query(named ? { name: st.name, text: st.text, values: values as unknown[] } : { text: st.text, values: values as unknown[] })).rows as R[];
    const copyRows = async (select: string) => {
      const client = await pool.connect();
      try {
        const output = await allOf(client.query(copyTo(`COPY (${select}) TO STDOUT (FORMAT binary)`)));
        client.release();
        return output;
      } catch (e) {
        client.release(e instanceof Error ? e : true); // not back into the pool: its state after a failed COPY is not worth trusting
        throw e;
      }
    };
    // The login itself (no role option, the same schema and timeouts; behind a pooler, the
    // login's own settings), one connection a statement: the release key's registration,
    // once in a vault's life.
    const loginOptions = options.roleOnConnect === false ? {} : { options: `-c search_path=${layout.schema}${timeouts}` };
    const runAsLogin = async <R>(st: Statement, values: readonly unknown[]) => {
      const client = new Client({ connectionString: url, connectionTimeoutMillis, ...loginOptions });
      client.on('error', () => {});
      await client.connect();
      try {
        return (await client.query({ text: st.text, values: values as unknown[] })).rows as R[];
      } finally {
        await client.end().catch(() => {});
      }
    };
    const asLogin = options.asLogin ? { runAsLogin: run } : layout.roleAsked ? {} : { runAsLogin };
    return { db, kind: 'postgres', location: redact(url), layout, run, copyRows, ...asLogin, close: () => pool.end() };
  } catch (e) {
    throw storageError(e, `connecting to Postgres at ${hostOf(url)}`);
  }
}

/**
 * Ends a connection that has a statement in flight and has heard nothing for `ms`
 * (twice the statement timeout, past which a live server would have cancelled it and
 * said so): the network died silently, and the statement fails ETIMEDOUT now instead of
 * after the OS's retransmissions (about 15 minutes on Linux). Idle connections are left
 * alone. Reads node-postgres's own state (`_getActiveQuery`, `_queryQueue`); should they
 * go, this does nothing, and statement-timeout.test.ts ("goes silent") fails.
 */
function endWhenSilent(client: ClientBase, ms: number): void {
  const internals = client as unknown as { connection?: { stream?: Socket }; _getActiveQuery?: () => unknown; _queryQueue?: unknown[] };
  const socket = internals.connection?.stream;
  if (!socket || typeof socket.setTimeout !== 'function') return;
  socket.setTimeout(ms);
  socket.on('timeout', () => {
    const busy = (typeof internals._getActiveQuery === 'function' && internals._getActiveQuery.call(client) != null) || (internals._queryQueue?.length ?? 0) > 0;
    if (busy) socket.destroy(Object.assign(new Error(`no answer from the server for ${ms} ms`), { code: 'ETIMEDOUT' }));
  });
}

/**
 * Keeps the memory a connection's backend frees for its next statement, once a connection.
 *
 * Why: glibc's malloc gives the top of a process's heap back to the OS (`brk`) once more than
 * 128 KiB is free there. The group append's statements (session_vault_append_group) build
 * about that much executor state and free it at each statement's end, so a backend writing
 * groups shrank its heap and grew it again on every group: a TLB shootdown across the CPUs
 * and fresh page faults each time. With 8 sessions appending at once the backends spent
 * about a quarter of their time there (perf; docs/performance.md, stop 35).
 *
 * How: glibc raises its trim threshold to twice the size of any mmap'd block freed (up to
 * 32 MiB), for the rest of the process. A 1 MiB string built and dropped is such a block:
 * after it the backend keeps up to 2 MiB freed at its heap's top instead of returning it.
 * On a server without glibc (musl, another OS) it is a 1 MiB string and nothing more. The
 * pool runs it (`onConnect`) before it lends a new connection out; should it fail, the
 * connection is lent all the same and its next statement reports what went wrong.
 */
async function keepBackendHeap(client: ClientBase): Promise<void> {
  await client.query(KEEP_HEAP).catch(() => {});
}

const KEEP_HEAP = `SELECT length(repeat('x', 1048576))`;

/** The longest a connection may take to open, whatever the statement timeout. */
const CONNECT_TIMEOUT_CAP_MS = 10_000;

/**
 * A readable stream's bytes in one buffer. (node:stream/consumers' `buffer` goes through a
 * Blob and copies each page twice more: about 2% of a replay's profile.)
 */
function allOf(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
  });
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

/**
 * The URL without its passwords, for logs, errors and `init --json`: the one in the user
 * part, and any parameter that names one (node-postgres takes `?password=` and
 * `?sslpassword=` too).
 */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const key of new Set(u.searchParams.keys())) if (/password/i.test(key)) u.searchParams.set(key, '***');
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}
