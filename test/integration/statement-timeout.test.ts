import { Client } from 'pg';
import { backends, dropCreatedDatabases, tempHome, testVault } from '../support/backends';
import { tcpProxy } from '../support/tcp-proxy';
import { openVault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { createLogger } from '../../src/observability';
import { resolveConfig, vaultOptions } from '../../src/cli/config';
import { openPostgres } from '../../src/store/postgres';
import { storageError } from '../../src/store';

/**
 * A database that does not answer in time fails the call typed (STORAGE_UNAVAILABLE),
 * writing nothing, instead of hanging the agent: a DBA holding a lock past the statement
 * timeout, a client frozen mid-transaction holding a session's head, a server that accepts
 * connections and never answers. On a server only: the
 * embedded store runs in the process (it ignores the option, checked below).
 */
afterAll(dropCreatedDatabases);

const servers = backends().filter((b) => b.name === 'postgres');
process.stderr.write('[statement-timeout.test.ts] the lock and silent-server attacks run on Postgres only: the embedded store has no server to wait on\n');

/** `p` settled within `ms`, or a failure saying the call hung. */
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms).unref())]);

describe.each(servers)('the statement timeout on $name', (backend) => {
  it("a DBA's lock held past the timeout fails the append typed, writing nothing; once it is gone, the append lands", async () => {
    // Short, yet long enough that no statement of the setup runs past it on a loaded machine.
    const t = await testVault(backend, { statementTimeoutMs: 1_000 });
    try {
      await t.vault.createTenant('bank');
      const s = t.vault.session('bank', 'locked');
      await s.append({ type: 'task', task: 'before the lock' });
      const dba = new Client({ connectionString: t.url });
      await dba.connect();
      try {
        await dba.query('BEGIN');
        await dba.query(`LOCK TABLE ${storeOf(t.vault).layout.schema}.sessions IN ACCESS EXCLUSIVE MODE`);
        await expect(within(s.append({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amountCents: 5000 } }), 10_000)).rejects.toMatchObject({
          code: 'STORAGE_UNAVAILABLE',
          message: expect.stringMatching(/^database unreachable while appending events \(57014: the statement was cancelled: it ran past the statement timeout/),
        });
      } finally {
        await dba.query('ROLLBACK');
        await dba.end();
      }
      expect(await s.headSeq()).toBe(1);
      expect(await s.append({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amountCents: 5000 } })).toMatchObject({ firstSeq: 2, lastSeq: 2 });
      expect((await t.vault.verify({ tenant: 'bank', session: 'locked' })).ok).toBe(true);
    } finally {
      await t.close();
    }
  });

  it("a client that freezes mid-transaction, holding a session's head, is ended by the server after the timeout; another writer to the session goes on", async () => {
    // The other writer waits for the head's row lock up to its own statement timeout (10 s);
    // the frozen one's connection is ended after 1.5 s idle in its transaction.
    const t = await testVault(backend, { statementTimeoutMs: 10_000 });
    const proxy = await tcpProxy(t.url);
    const frozen = await openVault({ home: t.home, database: proxy.url, statementTimeoutMs: 1_500, logger: createLogger({ level: 'silent' }) });
    try {
      await t.vault.createTenant('bank');
      const s = t.vault.session('bank', 'frozen');
      await s.append({ type: 'task', task: 'before' });
      // Over 1,000 events: one statement a chunk in one transaction (vault/append.ts). The
      // first chunk runs and takes the head's lock; then the client "freezes".
      const stalled = proxy.stallOn('session_vault_append');
      const big = frozen.session('bank', 'frozen').appendMany(Array.from({ length: 1001 }, (_, i) => ({ type: 'task', task: `t${i}` })));
      const failed = big.then(
        () => undefined,
        (e: unknown) => e,
      );
      await within(stalled, 10_000);
      expect(await within(s.append({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amountCents: 5000 } }), 20_000)).toMatchObject({ firstSeq: 2, lastSeq: 2 });
      expect(await within(failed, 10_000)).toMatchObject({ code: 'STORAGE_UNAVAILABLE', message: expect.stringMatching(/^database unreachable while appending events \(25P03: the transaction sat idle past the timeout/) });
      const seqs: number[] = [];
      for await (const e of s.events()) seqs.push(e.seq);
      expect(seqs).toEqual([1, 2]);
      expect((await t.vault.verify({ tenant: 'bank', session: 'frozen' })).ok).toBe(true);
    } finally {
      await proxy.close(); // first: a connection it still holds would keep the frozen vault's close waiting
      await frozen.close();
      await t.close();
    }
  });

  it('a network that goes silent under a statement fails it typed after twice the timeout, not the OS\'s minutes; the next calls work', async () => {
    const t = await testVault(backend);
    const proxy = await tcpProxy(t.url);
    const cut = await openVault({ home: t.home, database: proxy.url, statementTimeoutMs: 1_000, logger: createLogger({ level: 'silent' }) });
    try {
      await t.vault.createTenant('bank');
      const s = cut.session('bank', 'silent');
      await s.append({ type: 'task', task: 'before' });
      const unavailable = { code: 'STORAGE_UNAVAILABLE', message: expect.stringMatching(/\(ETIMEDOUT: connection timed out\)$/) };
      // An append (one statement outside any transaction) and a full read (a COPY).
      let dropped = proxy.dropFrom('session_vault_append');
      await expect(within(s.append({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amountCents: 5000 } }), 10_000)).rejects.toMatchObject(unavailable);
      await within(dropped, 1_000);
      dropped = proxy.dropFrom('session_vault_read_page_rows');
      const read = (async () => {
        for await (const _ of s.events()) void _;
      })();
      await expect(within(read, 10_000)).rejects.toMatchObject(unavailable);
      await within(dropped, 1_000);
      // The dead connections were dropped from the pool: the next calls get live ones.
      expect(await s.append({ type: 'task', task: 'after' })).toMatchObject({ firstSeq: 2 });
      const types: string[] = [];
      for await (const e of s.events()) types.push(e.type);
      expect(types).toEqual(['task', 'task']);
    } finally {
      await proxy.close();
      await cut.close();
      await t.close();
    }
  });

  it('a server that stops answering new connections fails the calls that need one, typed, within the connect timeout', async () => {
    const t = await testVault(backend);
    const proxy = await tcpProxy(t.url);
    const v = await openVault({ home: t.home, database: proxy.url, statementTimeoutMs: 1_000, logger: createLogger({ level: 'silent' }) });
    try {
      await v.tenants();
      proxy.silence(); // the pool's open connections still work; a new one is never answered
      const results = await within(Promise.allSettled(Array.from({ length: 12 }, () => v.tenants())), 10_000);
      const failed = results.filter((r) => r.status === 'rejected');
      expect(failed.length).toBeGreaterThan(0);
      for (const r of failed) expect({ code: r.reason.code, message: r.reason.message }).toEqual({ code: 'STORAGE_UNAVAILABLE', message: 'database unreachable while listing tenants (connection timed out: no connection free or opened in time)' });
    } finally {
      await proxy.close();
      await v.close();
      await t.close();
    }
  });

  it('a call that waits for a free connection past the connect timeout fails typed, before the stuck one is ended', async () => {
    // One connection, held by a statement whose answer never comes (the proxy holds the
    // client's traffic after a first answer): the next call waits for it 1 s, then fails;
    // the stuck one is ended at twice the timeout.
    const t = await testVault(backend);
    const proxy = await tcpProxy(t.url);
    const store = await openPostgres(proxy.url, { migrate: false, create: false, poolSize: 1, statementTimeoutMs: 1_000 });
    try {
      const { sql } = await import('drizzle-orm');
      const run = (text: string) =>
        store.db.execute(sql.raw(text)).catch((e: unknown) => {
          throw storageError(e, 'reading');
        });
      const stalled = proxy.stallOn('SELECT 1 AS first');
      await run('SELECT 1 AS first');
      await within(stalled, 1_000);
      const held = run('SELECT 2 AS held');
      const waiting = run('SELECT 3 AS waiting');
      await expect(within(waiting, 10_000)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', message: 'database unreachable while reading (connection timed out: no connection free or opened in time)' });
      await expect(within(held, 10_000)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', message: 'database unreachable while reading (ETIMEDOUT: connection timed out)' });
    } finally {
      await proxy.close();
      await store.close();
      await t.close();
    }
  });

  it('a server that accepts the connection and never answers fails the open typed within the connect timeout', async () => {
    const proxy = await tcpProxy(await backend.database());
    const h = await tempHome();
    try {
      proxy.silence();
      const opened = openVault({ home: h.home, database: proxy.url, statementTimeoutMs: 1_000, logger: createLogger({ level: 'silent' }) });
      await expect(within(opened, 10_000)).rejects.toMatchObject({
        code: 'STORAGE_UNAVAILABLE',
        message: expect.stringMatching(/^database unreachable while connecting to Postgres at 127\.0\.0\.1:\d+ \(connection timed out: the server did not answer\)$/),
      });
    } finally {
      h.cleanup();
      await proxy.close();
    }
  });

  it('the timeout is the one the vault was opened with, and 0 sends none', async () => {
    const show = async (statementTimeoutMs: number | undefined) => {
      const t = await testVault(backend, statementTimeoutMs === undefined ? {} : { statementTimeoutMs });
      try {
        const { sql } = await import('drizzle-orm');
        const setting = async (name: string) => ((await storeOf(t.vault).db.execute(sql.raw(`SHOW ${name}`))) as unknown as { rows: Record<string, string>[] }).rows[0]![name];
        return { statement: await setting('statement_timeout'), idle: await setting('idle_in_transaction_session_timeout') };
      } finally {
        await t.close();
      }
    };
    expect(await show(undefined)).toEqual({ statement: '1min', idle: '1min' });
    expect(await show(2_500)).toEqual({ statement: '2500ms', idle: '2500ms' });
    expect(await show(0)).toEqual({ statement: '0', idle: '0' });
  });
});

describe('VAULT_PG_STATEMENT_TIMEOUT and the embedded store', () => {
  it('the CLI reads whole seconds, refuses anything else typed, and leaves the default alone when unset', () => {
    expect(vaultOptions(resolveConfig({}, { VAULT_PG_STATEMENT_TIMEOUT: '5' })).statementTimeoutMs).toBe(5_000);
    expect(vaultOptions(resolveConfig({}, { VAULT_PG_STATEMENT_TIMEOUT: '0' })).statementTimeoutMs).toBe(0);
    expect(vaultOptions(resolveConfig({}, {})).statementTimeoutMs).toBeUndefined();
    for (const bad of ['-1', '1.5', '5s', '86401', ' 5'])
      expect(() => resolveConfig({}, { VAULT_PG_STATEMENT_TIMEOUT: bad })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
  });

  it('the embedded store ignores the option', async () => {
    const pglite = backends().find((b) => b.name === 'pglite')!;
    const t = await testVault(pglite, { statementTimeoutMs: 1 });
    try {
      await t.vault.createTenant('bank');
      expect(await t.vault.session('bank', 's').append({ type: 'task', task: 'fine' })).toMatchObject({ firstSeq: 1 });
    } finally {
      await t.close();
    }
  });
});
