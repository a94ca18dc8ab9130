import path from 'node:path';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { refusal } from '../support/refusal';
import { holdLeftArchived } from '../support/held-archived';

/**
 * The guards find what they protect by its identity: a legal hold by its session's id, a
 * tenant's retention mode by its policy row's tenant, the sessions a tenant key version
 * wraps by its number. With the operator role's credentials, which may update sessions,
 * key versions and policies, a thief moved each out from under its guard: renamed a held,
 * archived session, purged it and renamed it back; renumbered the key version wrapping a
 * held session and destroyed it as unused; moved a compliance-mode tenant's policy row to a
 * tenant of its own making (switching the tenant scope inside the statement), after which
 * the tenant read as governance. And a check deferred to commit read its tenant under the
 * scope as it was at commit, which the role set to another tenant. Performed here as that
 * role; since 0071 the database refuses each.
 */
afterAll(dropCreatedDatabases);

const DAY = 86_400_000;
const KEEPS = /^STORAGE_REFUSED database refused attack: a row of (sessions|tenant_keys|retention_policies) keeps its identity \(tenant, id, version\)/;

describe.each(backends())('rows keep their identity, on $name', (backend) => {
  let vault: Vault;
  let close: () => Promise<void>;
  let home: string;
  let now = Date.now() - 30 * DAY;
  const op = () => vault.operator({ actor: 'ops', reason: 'records policy RP-4' });
  const inSql = (tenant: string, q: string) => withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(q)));
  const rows = async <T,>(tenant: string, q: string) => rowsOf<T>(await withTenant(storeOf(vault).db, tenant, 'reading', (tx) => tx.execute(sql.raw(q))));
  /** Switches the tenant scope inside the statement, to `tenant`, and gives `value`: row-level security then checks the new row against that tenant. */
  const inScopeOf = (tenant: string, value: string) => `(SELECT '${value}' FROM (SELECT set_config('vault.tenant', '${tenant}', true)) AS s)`;

  beforeAll(async () => {
    ({ vault, home, close } = await testVault(backend, { clock: () => new Date(now) }));
    await vault.createTenant('bank');
    await vault.createTenant('insurer');
    await op().setRetention('bank', { archiveAfter: '1d', retain: '2d' });
    await op().setRetention('insurer', { archiveAfter: '1d', retain: '7y', mode: 'compliance' });
    await vault.session('bank', 'held').append({ type: 'message', role: 'user', content: 'the disputed transfer' });
    await vault.session('insurer', 'victim').append({ type: 'message', role: 'user', content: 'my claim' });
    now += 5 * DAY;
    await op().archive('bank', 'held');
    await op().archive('insurer', 'victim');
    await holdLeftArchived(op(), path.join(home, 'archive'), 'bank', 'held'); // archived under its hold: its events only in the archive
    now = Date.now();
    // A tenant of the role's own making: it may insert tenants, and one made in SQL has no policy row.
    expect(await refusal(inSql('void', `INSERT INTO tenants (tenant_id, created_at) VALUES ('void', now())`))).toBe('not refused');
  });
  afterAll(() => close?.());

  it('a held session, past its retention, is neither renamed nor moved to another tenant to slip its hold, so it is not purged', async () => {
    expect(await refusal(inSql('bank', `UPDATE sessions SET session_id = 'x-held' WHERE session_id = 'held'`))).toMatch(KEEPS);
    expect(await refusal(inSql('bank', `UPDATE sessions SET tenant_id = ${inScopeOf('void', 'void')} WHERE session_id = 'held'`))).toMatch(KEEPS);
    // What the rename let through: a tombstone for the new name, the purge and the key's destruction, which no hold named.
    const tombstone = (session: string) => `INSERT INTO tombstones (tenant_id, session_id, head_seq, head_hash, archive_digest, last_at, due_at, purged_at, purged_by, policy)
      SELECT s.tenant_id, '${session}', s.head_seq, s.head_hash, a.digest, s.last_at, now(), now(), 'mallory', 'archive-after=1d retain=2d'
        FROM sessions s JOIN archives a USING (tenant_id, session_id) WHERE s.session_id = 'held'`;
    expect(await refusal(inSql('bank', tombstone('x-held')))).toMatch(/^STORAGE_REFUSED database refused attack: a tombstone is written only for a session the vault holds/);
    expect(await refusal(inSql('bank', `UPDATE sessions SET status = 'purged', wrapped_data_key = NULL WHERE session_id = 'held'`))).toMatch(/under legal hold/);
    expect(await rows('bank', `SELECT session_id, status, wrapped_data_key IS NOT NULL AS keyed FROM sessions`)).toEqual([{ session_id: 'held', status: 'archived', keyed: true }]);
    expect(await rows('void', `SELECT session_id FROM sessions`)).toEqual([]);
    await expect(op().purge('bank', 'held')).rejects.toMatchObject({ code: 'LEGAL_HOLD' });
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });

  it("a compliance-mode tenant's policy row is not moved to another tenant, so the tenant does not read as governance and its floors are not lowered", async () => {
    expect(await refusal(inSql('insurer', `UPDATE retention_policies SET tenant_id = ${inScopeOf('void', 'void')}`))).toMatch(KEEPS);
    expect(await rows('insurer', `SELECT tenant_id, retain, mode FROM retention_policies`)).toEqual([{ tenant_id: 'insurer', retain: '7y', mode: 'compliance' }]);
    expect(await rows('void', `SELECT tenant_id FROM retention_policies`)).toEqual([]);
    // What the move let through: the floor lowered as in governance mode, then the purge years early.
    expect(await refusal(inSql('insurer', `UPDATE sessions SET retain_floor = '1d' WHERE session_id = 'victim'`))).toMatch(/compliance mode; retention floors are never lowered/);
    expect(await rows('insurer', `SELECT retain_floor, status FROM sessions`)).toEqual([{ retain_floor: '7y', status: 'archived' }]);
  });

  it('the tenant key version wrapping a held session is not renumbered, so it is not destroyed as wrapping nothing', async () => {
    const versions = () => rows<{ version: number; state: string; keyed: boolean }>('bank', `SELECT version, state, wrapped_key IS NOT NULL AS keyed FROM tenant_keys ORDER BY version`);
    const before = await versions();
    expect(before).toEqual([{ version: 1, state: 'primary', keyed: true }]);
    expect(await refusal(inSql('bank', `UPDATE tenant_keys SET version = 99 WHERE version = 1`))).toMatch(KEEPS);
    expect(await refusal(inSql('bank', `UPDATE tenant_keys SET tenant_id = ${inScopeOf('void', 'void')} WHERE version = 1`))).toMatch(KEEPS);
    expect(await refusal(inSql('bank', `UPDATE tenant_keys SET state = 'destroyed', wrapped_key = NULL WHERE version = 1`))).toMatch(/this key version protects a session under legal hold/);
    expect(await versions()).toEqual(before);
    expect(await op().checkKeys('bank')).toMatchObject({ ok: true, problems: [] });
  });

  it('a check at commit reads the tenant it checks: a primary key version stepped down, with the scope switched to another tenant before commit, is refused', async () => {
    const stepDown = withTenant(storeOf(vault).db, 'bank', 'attack', async (tx) => {
      await tx.execute(sql`UPDATE tenant_keys SET state = 'active' WHERE state = 'primary'`);
      await tx.execute(sql`SELECT set_config('vault.tenant', 'void', true)`);
    });
    expect(await refusal(stepDown)).toMatch(/a tenant keeps a primary key version until all of its versions are destroyed/);
    expect(await rows('bank', `SELECT version, state FROM tenant_keys`)).toEqual([{ version: 1, state: 'primary' }]);
    // The check still passes a rotation's own step-down, with its successor stored.
    expect(await op().rotateKey('bank')).toEqual({ version: 2, previous: 1 });
  });
});
