import fc from 'fast-check';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { storeOf } from '../../src/vault/vault';
import { readEvents, readPageRows, withTenant } from '../../src/store';
import type { Vault } from '../../src/vault';
import type { StoredEvent } from '../../src/domain';

/**
 * The full read's page statement (session_vault_read_page_rows fetched as binary COPY; what
 * reads use on Postgres) gives the very rows the transactional read gives (the table's own columns, as node-postgres or PGlite parse
 * them; what reads use on the embedded store), for any events, and for rows a DBA rewrote
 * to values the vault never writes: a time with microseconds, bytes of any length. On a
 * server only: the embedded store has no COPY stream (Store.copyRows) and reads its pages
 * with the transactional read itself.
 */
afterAll(dropCreatedDatabases);

const servers = backends().filter((b) => b.name === 'postgres');
process.stderr.write('[read-page.test.ts] PGlite not run here: the embedded store reads its pages with the transactional read this suite compares against\n');

const text = fc.string({ maxLength: 40, unit: 'grapheme' });
// Any JSON the vault accepts: it refuses a member named "__proto__" (INVALID_EVENT).
const json = fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"'));
const event = fc.oneof(
  fc.record({ type: fc.constant('message' as const), role: fc.constantFrom('user' as const, 'assistant' as const), content: text, usage: fc.record({ promptTokens: fc.nat(5000), completionTokens: fc.nat(5000) }), costUsd: fc.double({ min: 0, max: 1e6, noNaN: true }), latencyMs: fc.nat(1e9) }),
  fc.record({ type: fc.constant('tool_call' as const), callId: fc.string({ minLength: 1, maxLength: 8 }), tool: fc.string({ minLength: 1, maxLength: 30, unit: 'grapheme' }), input: json }),
  fc.record({ type: fc.constant('tool_result' as const), callId: fc.string({ minLength: 1, maxLength: 8 }), output: json, durationMs: fc.nat(1e9) }),
  fc.record({ type: fc.constant('task' as const), task: fc.option(text) }),
);
const options = fc.record({ correlationId: fc.option(fc.stringMatching(/^[!-~]{1,60}$/), { nil: undefined }), idempotencyKey: fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: undefined }) });

describe.each(servers)('a full read page on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  let n = 0;
  // Bytes compared as bytes (PGlite's own reads give Uint8Arrays, node-postgres and the COPY reader Buffers), times as numbers (an invalid Date equals no other).
  const plain = (rows: StoredEvent[]) => rows.map((r) => ({ ...r, at: String(r.at.getTime()), nonce: [...r.nonce], ciphertext: [...r.ciphertext], hash: [...r.hash] }));
  const both = async (session: string, after: number, limit: number) => ({
    page: plain(await readPageRows(storeOf(vault).copyRows!, 'bank', session, after, limit)),
    tx: plain(await withTenant(storeOf(vault).db, 'bank', 'reading', (tx) => readEvents(tx, 'bank', session, after, limit))),
  });

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend));
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  it('gives the rows the transactional read gives, for any events', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(event, options), { minLength: 1, maxLength: 12 }), fc.nat(14), fc.integer({ min: 1, max: 14 }), async (events, after, limit) => {
        const session = `p${n++}`;
        const s = vault.session('bank', session);
        // Each key names its event: a key drawn twice would make the second append a retry, which stores nothing.
        for (const [i, [e, o]] of events.entries()) await s.append({ ...e, ...(o.correlationId ? { correlationId: o.correlationId } : {}), ...(o.idempotencyKey ? { idempotencyKey: `${session}-${i}-${o.idempotencyKey}` } : {}) });
        const { page, tx } = await both(session, after, limit);
        expect(page).toEqual(tx);
        expect(page.map((e) => e.seq)).toEqual(Array.from({ length: Math.max(0, Math.min(limit, events.length - after)) }, (_, i) => after + i + 1));
      }),
      { numRuns: 25 },
    );
  });

  it('fails typed, showing nothing, when the database refuses the statement', async () => {
    await vault.session('bank', 'refused').append({ type: 'task', task: 'hidden' });
    // Granted to the application role; the operator role this vault acts as has it through membership.
    const role = storeOf(vault).layout.appRole;
    await asOwner(vault, url, [{ text: `REVOKE EXECUTE ON FUNCTION session_vault_read_page_rows(text, text, bigint, integer) FROM ${role}` }]);
    const refused = { code: 'PERMISSION_DENIED', message: expect.stringMatching(/^database refused reading events: insufficient privilege for the role this vault acts as \(roles: docs\/operations.md\)$/) };
    try {
      await expect(readPageRows(storeOf(vault).copyRows!, 'bank', 'refused', 0, 10)).rejects.toMatchObject(refused);
      // A full read goes through it.
      const read = (async () => {
        for await (const _ of vault.session('bank', 'refused').events()) void _;
      })();
      await expect(read).rejects.toMatchObject(refused);
    } finally {
      await asOwner(vault, url, [{ text: `GRANT EXECUTE ON FUNCTION session_vault_read_page_rows(text, text, bigint, integer) TO ${role}` }]);
    }
    expect((await readPageRows(storeOf(vault).copyRows!, 'bank', 'refused', 0, 10)).map((e) => e.seq)).toEqual([1]);
  });

  it('refuses ids that would change the COPY statement, before it is sent, through the API and directly', async () => {
    await vault.session('bank', 'kept').append({ type: 'task', task: 'still here' });
    for (const hostile of ["x'); DROP TABLE events; --", "kept' OR '1'='1", 'kept\\']) {
      const read = (async () => {
        for await (const _ of vault.session('bank', hostile).events()) void _;
      })();
      await expect(read).rejects.toMatchObject({ code: 'INVALID_ID' });
      await expect(readPageRows(storeOf(vault).copyRows!, 'bank', hostile, 0, 10)).rejects.toMatchObject({ code: 'INVALID_ID' });
      await expect(readPageRows(storeOf(vault).copyRows!, hostile, 'kept', 0, 10)).rejects.toMatchObject({ code: 'INVALID_ID' });
    }
    expect((await readPageRows(storeOf(vault).copyRows!, 'bank', 'kept', 0, 10)).map((e) => e.seq)).toEqual([1]);
  });

  it('fails typed, showing nothing, when a DBA replaces the page function with one whose rows are not the table\'s', async () => {
    // A vault of its own: the function is replaced for good.
    const own = await testVault(backend);
    try {
      await own.vault.createTenant('bank');
      await own.vault.session('bank', 'swapped').append({ type: 'task', task: 'hidden' });
      const role = storeOf(own.vault).layout.appRole;
      const malformed = { code: 'STORAGE_REFUSED', message: 'database error while reading events: its binary output did not have the expected form' };
      const read = () => readPageRows(storeOf(own.vault).copyRows!, 'bank', 'swapped', 0, 10);
      const body = (select: string) => `CREATE OR REPLACE FUNCTION session_vault_read_page_rows(p_tenant text, p_session text, p_after bigint, p_limit integer)
        RETURNS TABLE (r_seq bigint, r_type text, r_at timestamptz, r_correlation_id text, r_idempotency_key text, r_tool text,
          r_prompt_tokens integer, r_completion_tokens integer, r_cost_usd double precision, r_duration_ms bigint,
          r_key_version integer, r_nonce bytea, r_ciphertext bytea, r_hash bytea)
        LANGUAGE plpgsql AS $$ BEGIN PERFORM session_vault_scope(p_tenant); RETURN QUERY ${select}; END $$`;
      // A NULL where the table never has one.
      const columns = 'seq, type, at, correlation_id, idempotency_key, tool, prompt_tokens, completion_tokens, cost_usd, duration_ms, key_version, nonce, ciphertext, hash';
      await asOwner(own.vault, own.url, [{ text: body(`SELECT ${columns.replace('nonce', 'NULL::bytea')} FROM events`) }]);
      await expect(read()).rejects.toMatchObject({ code: 'STORAGE_REFUSED', message: 'database error while reading events: a column that is never NULL was NULL' });
      // A column of another type (an int where the seq's bigint was): a width the reader refuses, not a value it misreads.
      await asOwner(own.vault, own.url, [
        { text: 'DROP FUNCTION session_vault_read_page_rows(text, text, bigint, integer)' },
        {
          text: `CREATE FUNCTION session_vault_read_page_rows(p_tenant text, p_session text, p_after bigint, p_limit integer)
            RETURNS TABLE (r_seq integer, r_type text, r_at timestamptz, r_correlation_id text, r_idempotency_key text, r_tool text,
              r_prompt_tokens integer, r_completion_tokens integer, r_cost_usd double precision, r_duration_ms bigint,
              r_key_version integer, r_nonce bytea, r_ciphertext bytea, r_hash bytea)
            LANGUAGE plpgsql AS $$ BEGIN PERFORM session_vault_scope(p_tenant); RETURN QUERY SELECT ${columns.replace('seq', 'seq::integer')} FROM events; END $$`,
        },
        { text: `GRANT EXECUTE ON FUNCTION session_vault_read_page_rows(text, text, bigint, integer) TO ${role}` },
      ]);
      await expect(read()).rejects.toMatchObject(malformed);
      const viaApi = (async () => {
        for await (const _ of own.vault.session('bank', 'swapped').events()) void _;
      })();
      await expect(viaApi).rejects.toMatchObject(malformed);
    } finally {
      await own.close();
    }
  });

  it('gives the same rows for values only a DBA writes: microseconds, infinity, long and empty bytes, no rows', async () => {
    await vault.session('bank', 'odd').appendMany(Array.from({ length: 5 }, (_, i) => ({ type: 'task' as const, task: `t${i}` })));
    const where = (seq: number) => `tenant_id = 'bank' AND session_id = 'odd' AND seq = ${seq}`;
    await asOwner(vault, url, [
      { text: 'ALTER TABLE events DROP CONSTRAINT events_at_range' }, // the owner drops 0066's check, as it may
      { text: `UPDATE events SET at = '2026-01-02 03:04:05.678999+00' WHERE ${where(1)}` },
      { text: `UPDATE events SET at = '1969-12-31 23:59:59.999001+00' WHERE ${where(2)}` },
      { text: `UPDATE events SET ciphertext = decode(repeat('ab', 5000), 'hex'), nonce = ''::bytea WHERE ${where(3)}` },
      { text: `UPDATE events SET at = 'infinity' WHERE ${where(4)}` },
    ]);
    const { page, tx } = await both('odd', 0, 10);
    expect(page).toEqual(tx);
    // The column keeps milliseconds (timestamptz(3)): the database rounds what it is given.
    expect(page[0]!.at).toBe(String(Date.parse('2026-01-02T03:04:05.679Z')));
    expect(page[1]!.at).toBe(String(Date.parse('1969-12-31T23:59:59.999Z')));
    expect(page[2]!.ciphertext).toHaveLength(5000);
    expect(page[2]!.nonce).toHaveLength(0);
    expect(page[3]!.at).toBe('NaN');
    expect(await readPageRows(storeOf(vault).copyRows!, 'bank', 'odd', 5, 10)).toEqual([]);
    expect(await readPageRows(storeOf(vault).copyRows!, 'bank', 'nobody', 0, 10)).toEqual([]);
  });
});
