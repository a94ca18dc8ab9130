import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { PGlite } from '@electric-sql/pglite';
import lockfile from 'proper-lockfile';
import { StorageError } from '../errors';
import * as schema from './schema';
import { checkSchemaState, migratePglite, schemaState } from './migrate';
import { resolveLayout, type StoreLayout } from './layout';
import { storageError } from './errors';
import { loadOptional } from '../optional';
import type { Store, VaultDb } from './types';
import type { Statement } from './statement';

/** Shared buffers of the embedded store (PGlite): see openPglite. */
const EMBEDDED_SHARED_BUFFERS = '16MB';

/**
 * bytea to and from PGlite's text protocol as node-postgres does it on a server: hex in
 * one call each way, a Buffer back. PGlite's own went a byte at a time (an array of a
 * number and a two-character string per byte, joined; a parseInt per byte back): the
 * hundred events of one statement's ciphertexts were some 200,000 objects of garbage, so
 * that restoring a long session peaked tens of megabytes higher than its events, and every
 * read of a ciphertext parsed it byte by byte.
 */
const BYTEA_OID = 17;
const BYTEA = {
  serializers: {
    [BYTEA_OID]: (x: unknown): string => {
      if (!(x instanceof Uint8Array)) throw new TypeError('bytea takes a Uint8Array');
      return `\\x${Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex')}`;
    },
  },
  parsers: { [BYTEA_OID]: (x: string): Buffer => Buffer.from(x.slice(2), 'hex') },
};

/**
 * The embedded store: PGlite (Postgres compiled to WASM) in `dir`, or in memory when
 * `dir` is null. The same migrations, triggers and policies as on a server.
 *
 * PGlite is single-process. A second process opening the same folder waits for the
 * first to close it — a lock file beside the folder (proper-lockfile: an atomic mkdir,
 * refreshed while held, considered stale 10 s after its holder died) — up to
 * `lockTimeoutMs`, then fails with STORE_LOCKED. It never opens a folder another
 * process has open, which is what would corrupt it.
 */
export async function openPglite(
  dir: string | null,
  options: { lockTimeoutMs: number; migrate?: boolean; create?: boolean; onLockWait?: (dir: string, timeoutMs: number) => void; schema?: string | undefined; appRole?: string | undefined },
): Promise<Store> {
  let release: (() => Promise<void>) | null = null;
  if (dir && options.create === false && !existsSync(path.join(dir, 'PG_VERSION'))) {
    throw new StorageError('NO_VAULT', `no vault at ${dir}: run \`session-vault init\` first (or point --home / --db at the vault)`);
  }
  if (dir) {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    release = await acquire(dir, options.lockTimeoutMs, options.onLockWait);
  }
  let pglite: PGlite | undefined;
  try {
    const [{ PGlite }, { drizzle }] = await loadEmbedded();
    // An embedded store serves one process: 16 MB of shared buffers instead of Postgres's
    // 128 MB keeps a CLI run's memory down (~130 MB less RSS); pages it evicts stay in the
    // OS page cache, where its data files are.
    const startParams = [...PGlite.defaultStartParams, '-c', `shared_buffers=${EMBEDDED_SHARED_BUFFERS}`];
    pglite = dir ? new PGlite(dir, { startParams, ...BYTEA }) : new PGlite({ startParams, ...BYTEA });
    await pglite.waitReady;
    yieldBeforeEachStatement(pglite);
    const opening = pglite;
    const layout = await resolveLayout(options, async (text) => (await opening.query(text)).rows as never[]);
    if (options.migrate === false && dir) await requireCurrentSchema(pglite, dir, layout);
    else await migratePglite(pglite, layout);
    await pglite.exec(`SET search_path TO ${layout.schema}; SET ROLE ${layout.role}`);
    const db = drizzle(pglite, { schema }) as unknown as VaultDb;
    const opened = pglite;
    return {
      db,
      kind: dir ? 'pglite' : 'memory',
      location: dir ?? 'memory://',
      layout,
      run: async <R>(st: Statement, values: readonly unknown[]) => (await opened.query<R>(st.text, values as unknown[])).rows,
      // One user here: its login is the superuser the store sets its role from.
      ...(layout.roleAsked
        ? {}
        : {
            runAsLogin: async <R>(st: Statement, values: readonly unknown[]) =>
              opened.transaction(async (tx) => {
                await tx.exec('SET LOCAL ROLE NONE');
                return (await tx.query<R>(st.text, values as unknown[])).rows;
              }),
          }),
      close: async () => {
        try {
          await opened.close();
        } finally {
          await release?.();
        }
      },
    };
  } catch (e) {
    await pglite?.close().catch(() => {});
    await release?.().catch(() => {});
    throw storageError(e, 'opening the embedded store');
  }
}

/**
 * PGlite runs Postgres inside this process, and a statement's promise settles without any
 * I/O: a caller that appends in a loop then never lets the event loop turn, and timers,
 * sockets and file reads of everyone else (an HTTP server, other sessions waiting on the
 * keyring file) starve. Each statement and transaction here first waits for the event loop
 * to turn once (setImmediate: a few microseconds, beside a statement's hundreds), so the
 * embedded store takes turns like a server connection would.
 */
function yieldBeforeEachStatement(pglite: PGlite): void {
  const query = pglite.query.bind(pglite);
  const exec = pglite.exec.bind(pglite);
  const transaction = pglite.transaction.bind(pglite);
  Object.assign(pglite, {
    query: async (...args: Parameters<PGlite['query']>) => (await nextTurn(), query(...args)),
    exec: async (...args: Parameters<PGlite['exec']>) => (await nextTurn(), exec(...args)),
    transaction: async (...args: Parameters<PGlite['transaction']>) => (await nextTurn(), transaction(...args)),
  });
}

/**
 * PGlite and drizzle's driver for it, loaded when the embedded store is first opened:
 * PGlite is an optional dependency (npm installs it by default; a Postgres-only deployment
 * may leave it out with `--omit=optional`), so a vault on a server never loads it.
 */
function loadEmbedded() {
  const purpose = 'the embedded store (a folder or memory:// vault)';
  return Promise.all([
    loadOptional(() => import('@electric-sql/pglite'), '@electric-sql/pglite', purpose),
    loadOptional(() => import('drizzle-orm/pglite'), '@electric-sql/pglite', purpose),
  ]);
}

async function acquire(dir: string, timeoutMs: number, onWait?: (dir: string, timeoutMs: number) => void): Promise<() => Promise<void>> {
  const stepMs = 100;
  const options = (retries: number): Parameters<typeof lockfile.lock>[1] => ({
      lockfilePath: path.join(path.dirname(dir), `${path.basename(dir)}.lock`),
      realpath: false,
      stale: 10_000,
      update: 2_000,
      retries: { retries, factor: 1, minTimeout: stepMs, maxTimeout: stepMs },
      onCompromised: () => {
        // Another process removed our lock (e.g. we were frozen past `stale`). Stop rather
        // than risk two writers on one folder.
        process.emitWarning('session-vault: embedded store lock compromised; exiting');
        process.exit(4);
      },
  });
  try {
    try {
      return await lockfile.lock(dir, options(0));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED' || timeoutMs === 0) throw e;
      // Held by another process: say so before waiting, instead of going silent for the timeout.
      onWait?.(dir, timeoutMs);
      return await lockfile.lock(dir, options(Math.max(0, Math.ceil(timeoutMs / stepMs))));
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new StorageError(
        'STORE_LOCKED',
        `the embedded store ${dir} is in use by another process; gave up after ${Math.round(timeoutMs / 1000)} s (--lock-timeout)`,
      );
    }
    throw new StorageError('STORAGE_UNAVAILABLE', `cannot lock the embedded store ${dir} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
}

/** NO_VAULT for a folder without the vault's tables; STORAGE_REFUSED for one that needs `init` to migrate. */
export async function requireCurrentSchema(pglite: PGlite, where: string, layout: StoreLayout): Promise<void> {
  checkSchemaState(await schemaState(async (text) => (await pglite.query(text)).rows as never[], layout), where);
}

