import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault } from '../../src/vault';

/**
 * Rules the database enforces whoever connects, each shown by performing the attack: as
 * the vault's own role (the operator's, which may most; its credentials stolen, no
 * keyring), as the legal role where holds are concerned, as the owner with triggers
 * on, and as a DBA with triggers off (session_replication_role = replica), which verify
 * must then catch.
 */
afterAll(dropCreatedDatabases);

const DAY = 86_400_000;
const op = { actor: 'alice', reason: 'trust test' };
/** n zero bytes as a bytea literal. */
const bytes = (n: number) => `'\\x${'00'.repeat(n)}'::bytea`;
const refused = (p: Promise<unknown>) => p.then(() => 'accepted', (e: any) => `${e?.code ?? ''} ${e?.message ?? ''} ${e?.cause?.code ?? ''} ${e?.cause?.message ?? ''}`);

describe.each(backends())('database-enforced trust rules on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  let now = Date.parse('2026-01-01T00:00:00Z');
  const app = (tenant: string, text: string) => withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(text)));
  /** The same, as the legal role (drizzle/0042): the one that may place and lift holds. */
  const legal = (tenant: string, text: string) => withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(text)), storeOf(vault).layout.legalRole);

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend, { clock: () => new Date(now) }));
    await vault.createTenant('bank');
    await vault.createTenant('other');
    for (const s of ['held', 'free', 'gone']) await vault.session('bank', s).appendMany([{ type: 'message', role: 'user', content: s }]);
    await vault.session('other', 'o').append({ type: 'task', task: 'x' });
    await vault.operator(op).setHold('bank', 'held');
  });
  afterAll(() => close());

  it('the owner cannot delete events by setting the release flag by hand', async () => {
    await vault.operator(op).archive('bank', 'free');
    await vault.operator(op).restore('bank', 'free');
    const attempt = asOwner(vault, url, [
      { text: 'SET session_replication_role = DEFAULT' },
      { text: `SELECT set_config('vault.releasing', 'bank/free', false), set_config('vault.tenant', 'bank', false)` },
      { text: `DELETE FROM events WHERE tenant_id = 'bank' AND session_id = 'free'` },
    ]);
    expect(await refused(attempt)).toMatch(/append-only/);
    // Nor from a DO block that imitates the release function's statement.
    const imitation = asOwner(vault, url, [
      { text: 'SET session_replication_role = DEFAULT' },
      {
        text: `DO $$ DECLARE p_tenant text := 'bank'; p_session text := 'free'; BEGIN
                 PERFORM set_config('vault.releasing', 'bank/free', true);
                 DELETE FROM events WHERE tenant_id = p_tenant AND session_id = p_session; END $$`,
      },
    ]);
    expect(await refused(imitation)).toMatch(/append-only/);
    await asOwner(vault, url, [{ text: `SELECT set_config('vault.releasing', '', false), set_config('vault.tenant', '', false)` }]);
    expect((await vault.verify()).ok).toBe(true);
  });

  it('session_vault_tenants and session_vault_append_one are not executable by PUBLIC', async () => {
    const role = `sv_nobody_${randomBytes(3).toString('hex')}`;
    const schema = storeOf(vault).layout.schema;
    // The role may see the schema, so what refuses it is the function's own privilege.
    await asOwner(vault, url, [{ text: `CREATE ROLE ${role} NOLOGIN` }, { text: `GRANT USAGE ON SCHEMA ${schema} TO ${role}` }]);
    try {
      const attempt = asOwner(vault, url, [{ text: `SET ROLE ${role}` }, { text: `SELECT * FROM ${schema}.session_vault_tenants()` }]);
      expect(await refused(attempt)).toMatch(/permission denied for function session_vault_tenants/);
      const one = `SELECT ${schema}.session_vault_append_one('bank', 'free', 1, 'task', now(), 'c', NULL, NULL, NULL, NULL, NULL, NULL, 1, '\\x00'::bytea, '\\x00'::bytea, '\\x00'::bytea, NULL, NULL)`;
      expect(await refused(asOwner(vault, url, [{ text: `SET ROLE ${role}` }, { text: one }]))).toMatch(/permission denied for function session_vault_append_one/);
    } finally {
      await asOwner(vault, url, [{ text: 'RESET ROLE' }, { text: `REVOKE USAGE ON SCHEMA ${schema} FROM ${role}` }, { text: `DROP ROLE ${role}` }]);
    }
  });

  it("the append function refuses to write into another tenant than the transaction's", async () => {
    const attack = `SELECT session_vault_append('other', 'o', 1, ARRAY[2]::bigint[], ARRAY['task'], ARRAY[now()], ARRAY['c'],
      ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY[NULL]::int[], ARRAY[NULL]::int[], ARRAY[NULL]::float8[], ARRAY[NULL]::bigint[],
      ARRAY[1], ARRAY[1], '\\x${'00'.repeat(24)}'::bytea, '\\x00'::bytea, '\\x${'00'.repeat(32)}'::bytea, NULL, NULL)`;
    expect(await refused(app('bank', attack))).toMatch(/scoped to another tenant/);
    const one = `SELECT session_vault_append_one('other', 'o', 1, 'task', now(), 'c', NULL, NULL, NULL, NULL, NULL, NULL, 1,
      '\\x${'00'.repeat(24)}'::bytea, '\\x00'::bytea, '\\x${'00'.repeat(32)}'::bytea, NULL, NULL)`;
    expect(await refused(app('bank', one))).toMatch(/scoped to another tenant/);
    const restore = `SELECT session_vault_restore('other', 'o', ARRAY[1]::bigint[], ARRAY['task'], ARRAY[now()], ARRAY['c'],
      ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY[NULL]::int[], ARRAY[NULL]::int[], ARRAY[NULL]::float8[], ARRAY[NULL]::bigint[],
      ARRAY[1], ARRAY[1], '\\x00'::bytea, '\\x00'::bytea, '\\x00'::bytea)`;
    expect(await refused(app('bank', restore))).toMatch(/scoped to another tenant/);
    expect((await vault.sessions('other'))[0]).toMatchObject({ events: 1 });
  });

  it('a single append whose nonce or hash is not of its size is refused, and nothing of it is written', async () => {
    const session = async () => (await vault.sessions('bank')).find((x) => x.session === 'free')!;
    const before = await session();
    const attack = (nonce: number, hash: number) =>
      `SELECT session_vault_append_one('bank', 'free', ${before.events}, 'task', now(), 'c', NULL, NULL, NULL, NULL, NULL, NULL, 1, ${bytes(nonce)}, ${bytes(40)}, ${bytes(hash)}, NULL, NULL)`;
    for (const [nonce, hash] of [[23, 32], [25, 32], [24, 31], [24, 0]] as const) {
      expect(await refused(app('bank', attack(nonce, hash)))).toMatch(/SV002/);
    }
    expect(await session()).toEqual(before);
    expect((await vault.verify({ tenant: 'bank' })).ok).toBe(true);
  });

  it("an event of no known type, a session id out of format and an unknown status are refused, to the vault's own role and to a DBA with triggers off, and nothing is written", async () => {
    const sessions = () => vault.sessions('bank');
    const before = await sessions();
    const free = before.find((x) => x.session === 'free')!;
    // The vault's own role, through the append function and by hand.
    const bogusAppend = `SELECT session_vault_append_one('bank', 'free', ${free.events}, 'bogus', now(), 'c', NULL, NULL, NULL, NULL, NULL, NULL, 2, ${bytes(24)}, ${bytes(40)}, ${bytes(32)}, NULL, NULL)`;
    expect(await refused(app('bank', bogusAppend))).toMatch(/breaks the rule events_type \(23514\)/); // a check violation, named by its rule and never by the row's values
    expect(await refused(app('bank', `UPDATE sessions SET status = 'deleted' WHERE session_id = 'free'`))).toMatch(/\(23514\)|\(42501\)/);
    // A DBA with triggers off: the guards are not triggers, so they still hold.
    const copyEvent = (type: string) =>
      `INSERT INTO events (tenant_id, session_id, seq, type, at, correlation_id, key_version, nonce, ciphertext, hash)
       SELECT tenant_id, session_id, seq + 100, '${type}', at, correlation_id, key_version, nonce, ciphertext, hash FROM events WHERE tenant_id = 'bank' AND session_id = 'free' AND seq = 1`;
    const dba = (text: string) => refused(asOwner(vault, url, [{ text }]));
    expect(await dba(copyEvent('bogus'))).toMatch(/events_type/);
    expect(await dba(copyEvent('Message'))).toMatch(/events_type/);
    expect(await dba(`UPDATE sessions SET status = 'deleted' WHERE tenant_id = 'bank' AND session_id = 'free'`)).toMatch(/sessions_status/);
    expect(await dba(`UPDATE sessions SET session_id = 'free/../held' WHERE tenant_id = 'bank' AND session_id = 'free'`)).toMatch(/sessions_id_format/);
    expect(
      await dba(`INSERT INTO sessions (tenant_id, session_id, created_at, data_key_version, tenant_key_version)
                 VALUES ('bank', '-starts-with-a-dash', now(), 1, 1)`),
    ).toMatch(/sessions_id_format/);
    // The same statements with good values go through, so the refusals were the guards'.
    expect(await dba(copyEvent('message'))).toBe('accepted');
    await asOwner(vault, url, [{ text: `DELETE FROM events WHERE tenant_id = 'bank' AND session_id = 'free' AND seq > 100` }]);
    expect(await sessions()).toEqual(before);
    expect((await vault.verify({ tenant: 'bank' })).ok).toBe(true);
  });

  it("the operator role cannot destroy a held session's key, purge it, or destroy the tenant key that wraps it", async () => {
    expect(await refused(app('bank', `UPDATE sessions SET wrapped_data_key = NULL WHERE session_id = 'held'`))).toMatch(/legal hold/);
    expect(await refused(app('bank', `UPDATE sessions SET status = 'purged' WHERE session_id = 'held'`))).toMatch(/legal hold/);
    expect(await refused(app('bank', `UPDATE tenant_keys SET wrapped_key = NULL, state = 'destroyed'`))).toMatch(/legal hold/);
    // The owner, triggers on, is refused the same way.
    const owner = asOwner(vault, url, [{ text: 'SET session_replication_role = DEFAULT' }, { text: `UPDATE sessions SET wrapped_data_key = NULL WHERE tenant_id = 'bank' AND session_id = 'held'` }]);
    expect(await refused(owner)).toMatch(/legal hold/);
    const [[row]] = (await asOwner(vault, url, [{ text: `SELECT wrapped_data_key IS NOT NULL AS k FROM sessions WHERE tenant_id = 'bank' AND session_id = 'held'` }])) as [{ k: boolean }[]];
    expect(row!.k).toBe(true);
  });

  it('neither the operator role nor the legal role can delete or rewrite a legal hold; clearing stamps who and why and keeps the row', async () => {
    for (const as of [app, legal]) {
      expect(await refused(as('bank', `DELETE FROM legal_holds`))).toMatch(/insufficient privilege|permission denied/);
      expect(await refused(as('bank', `UPDATE legal_holds SET reason = 'nothing'`))).toMatch(/insufficient privilege|permission denied/);
    }
    expect(await refused(app('bank', `UPDATE legal_holds SET cleared_at = now()`))).toMatch(/insufficient privilege|permission denied/); // holds are the legal role's
    expect(await refused(legal('bank', `UPDATE legal_holds SET cleared_at = now()`))).toMatch(/legal holds are kept/); // and even it must say who and why
    const owner = asOwner(vault, url, [{ text: 'SET session_replication_role = DEFAULT' }, { text: `DELETE FROM legal_holds` }]);
    expect(await refused(owner)).toMatch(/legal holds are kept/);
    expect((await vault.holds('bank')).map((h) => h.session)).toEqual(['held']);
    await vault.operator({ actor: 'carol', reason: 'case closed' }).clearHold('bank', 'held');
    expect(await vault.holds('bank')).toEqual([]);
    const rows = (await asOwner(vault, url, [{ text: `SELECT cleared_by, clear_reason FROM legal_holds WHERE tenant_id = 'bank'` }]))[0];
    expect(rows).toEqual([{ cleared_by: 'carol', clear_reason: 'case closed' }]);
    now += 1000;
    await vault.operator(op).setHold('bank', 'held'); // held again: history keeps both
    expect((await vault.holds('bank')).map((h) => h.session)).toEqual(['held']);
  });

  it('verify names a session whose key vanished without a shred marker', async () => {
    await asOwner(vault, url, [{ text: `UPDATE sessions SET wrapped_data_key = NULL WHERE tenant_id = 'bank' AND session_id = 'gone'` }]);
    const report = await vault.verify({ tenant: 'bank' });
    expect(report.problems).toEqual([expect.objectContaining({ session: 'gone', kind: 'key_missing' })]);
  });

  it('retention floors: a shorter policy spares existing sessions; compliance mode allows no override, in the database too', async () => {
    const o = vault.operator(op);
    await vault.createTenant('floors');
    await vault.session('floors', 'old').append({ type: 'task', task: 'kept 7y' }); // created under the default 7y
    await o.setRetention('floors', { archiveAfter: '1d', retain: '2d' });
    await vault.session('floors', 'new').append({ type: 'task', task: 'kept 2d' });
    now += 5 * DAY;
    const run = [];
    for await (const i of o.retentionRun({ tenant: 'floors' })) run.push([i.session, i.action, i.outcome]);
    expect(run).toEqual([['new', 'archive', 'done'], ['old', 'archive', 'done']]);
    const run2 = [];
    for await (const i of o.retentionRun({ tenant: 'floors' })) run2.push([i.session, i.action, i.outcome]);
    expect(run2).toEqual([['new', 'purge', 'done']]);
    await expect(o.purge('floors', 'old')).rejects.toMatchObject({ code: 'RETENTION_NOT_DUE', message: expect.stringMatching(/retain=7y/) });
    // A hold on a purged session is refused, by the vault and by the database.
    await expect(o.setHold('floors', 'new')).rejects.toMatchObject({ code: 'SESSION_STATE' });
    expect(await refused(legal('floors', `INSERT INTO legal_holds (tenant_id, session_id, reason, set_by, set_at) VALUES ('floors', 'new', 'x', 'y', now())`))).toMatch(/not purged/);
    // The operator role forging a purge before the floor: the tombstone is refused.
    const forged = `INSERT INTO tombstones (tenant_id, session_id, head_seq, archive_digest, last_at, due_at, purged_at, purged_by, policy)
      SELECT tenant_id, session_id, head_seq, '\\x00'::bytea, last_at, last_at + interval '2 days', last_at + interval '3 days', 'mallory', 'retain=2d'
        FROM sessions WHERE session_id = 'old'`;
    expect(await refused(app('floors', forged))).toMatch(/retention floor/);
    // Compliance: for good; no override, and the database refuses lowering a floor by hand.
    await o.setRetention('floors', { archiveAfter: '1d', retain: '2d', mode: 'compliance' });
    await expect(o.setRetention('floors', { archiveAfter: '1d', retain: '2d', mode: 'governance' })).rejects.toMatchObject({ code: 'RETENTION_LOCKED' });
    await expect(o.setRetention('floors', { archiveAfter: '1d', retain: '2d', mode: 'bogus' as never })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(o.setRetention('floors', { archiveAfter: '1d', retain: '2d', overrideFloors: true })).rejects.toMatchObject({ code: 'RETENTION_LOCKED' });
    expect(await refused(app('floors', `UPDATE sessions SET retain_floor = '1d'`))).toMatch(/compliance mode/);
    expect(await refused(app('floors', `UPDATE retention_policies SET mode = 'governance'`))).toMatch(/cannot be lifted/);
    expect(await refused(app('floors', `DELETE FROM retention_policies`))).toMatch(/insufficient privilege|permission denied|append-only/);
    expect((await vault.retention('floors')).mode).toBe('compliance');
    expect((await vault.verify({ tenant: 'floors' })).ok).toBe(true);
  });

  it('governance mode: an override lowers existing floors only with a reason, and is recorded', async () => {
    await vault.createTenant('gov');
    await vault.session('gov', 'g').append({ type: 'task', task: 'kept 7y' });
    await expect(vault.operator({ actor: 'bob' }).setRetention('gov', { archiveAfter: '1d', retain: '2d', overrideFloors: true })).rejects.toMatchObject({ code: 'REASON_REQUIRED' });
    await vault.operator({ actor: 'bob', reason: 'board decision 12' }).setRetention('gov', { archiveAfter: '1d', retain: '2d', overrideFloors: true });
    now += 3 * DAY;
    const run = [];
    for await (const i of vault.operator(op).retentionRun({ tenant: 'gov' })) run.push([i.session, i.action, i.outcome]);
    for await (const i of vault.operator(op).retentionRun({ tenant: 'gov' })) run.push([i.session, i.action, i.outcome]);
    expect(run).toEqual([['g', 'archive', 'done'], ['g', 'purge', 'done']]);
    const trail = [];
    for await (const a of vault.accessLog({ tenant: 'gov' })) trail.push([a.actor, a.action, a.reason]);
    expect(trail).toContainEqual(['bob', 'retention.override:1d/2d', 'board decision 12']);
  });

  it('shredding before the floor is erasure: it needs its legal basis', async () => {
    await vault.createTenant('gdpr');
    await vault.session('gdpr', 'subject').append({ type: 'message', role: 'user', content: 'erase me' });
    await expect(vault.operator({ actor: 'dpo' }).shred('gdpr', 'subject')).rejects.toMatchObject({ code: 'REASON_REQUIRED' });
    expect(await vault.operator({ actor: 'dpo', reason: 'GDPR art. 17 request 7' }).shred('gdpr', 'subject')).toMatchObject({ sessions: 1 });
    expect((await vault.verify({ tenant: 'gdpr' })).ok).toBe(true);
  });
});
