import fc from 'fast-check';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { atLeast, parseDuration } from '../../src/retention';
import { refusal } from '../support/refusal';
import { durationTexts } from '../support/durations';

/**
 * Retention floors against the calendar they count by, by performing the attacks. The vault
 * and the database (0069) compared two durations from one date, 2001-01-31, from which a
 * month is 28 days and seven years 2,556: `28d` passed for `1mo` and `2556d` for `7y`.
 * From 2025-03-01 a month is 31 days; seven years from 2017-03-01 are 2,557. In a
 * compliance-mode tenant whose policy was shortened for new sessions, the vault's own
 * archive lowered an older session's floor to the new policy and its retention run purged
 * the session days inside what its floor promised; the operator role could lower such a
 * floor by hand and purge; and in governance mode a floor lowered so outside the vault was
 * neither held to the trail nor named by verify. Since 0070 a floor is no lower only when
 * it keeps at least as long from every start.
 */
afterAll(dropCreatedDatabases);

const at = (iso: string) => Date.parse(iso);

describe.each(backends())('retention floors compared from every start, on $name', (backend) => {
  let vault: Vault;
  let close: () => Promise<void>;
  let now = at('2017-02-28T09:00:00Z');
  const op = () => vault.operator({ actor: 'ops', reason: 'records policy RP-4' });
  const inSql = (tenant: string, q: string) => withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(q)));
  const row = async (tenant: string, session: string) => rowsOf<{ retain_floor: string; status: string; keyed: boolean }>(await inSql(tenant, `SELECT retain_floor, status, wrapped_data_key IS NOT NULL AS keyed FROM sessions WHERE session_id = '${session}'`))[0];
  const run = async (tenant: string) => {
    const items: string[] = [];
    for await (const i of op().retentionRun({ tenant })) items.push(`${i.session} ${i.action} ${i.outcome}`);
    return items;
  };

  beforeAll(async () => {
    ({ vault, close } = await testVault(backend, { clock: () => new Date(now) }));
  });
  afterAll(() => close?.());

  it("the vault's own run, in compliance mode, keeps a session its seven calendar years after the policy for new sessions became 2556d, and a month after it became 28d", async () => {
    // Seven years from 2017-03-01 hold two 29 Februaries (2020, 2024): 2,557 days, to 2024-03-01.
    await vault.createTenant('insurer');
    await op().setRetention('insurer', { archiveAfter: '1d', retain: '7y', mode: 'compliance' });
    now = at('2017-03-01T09:00:00Z');
    await vault.session('insurer', 'claim').append({ type: 'message', role: 'user', content: 'my claim' });
    now = at('2017-03-01T10:00:00Z');
    await op().setRetention('insurer', { archiveAfter: '1d', retain: '2556d' }); // for new sessions
    now = at('2017-03-03T09:00:00Z');
    expect(await run('insurer')).toEqual(['claim archive done']);
    // Archiving raised the floor to the longer of the two from every start (2,556 days are more than seven years without a 29 February): never lowered it to 2556d.
    expect(await row('insurer', 'claim')).toEqual({ retain_floor: '2557d', status: 'archived', keyed: true });
    now = at('2024-02-29T10:00:00Z'); // 2,556 days and an hour on
    expect(await run('insurer')).toEqual([]);
    expect(await row('insurer', 'claim')).toEqual({ retain_floor: '2557d', status: 'archived', keyed: true });
    now = at('2024-03-01T10:00:00Z'); // seven years and an hour on
    expect(await run('insurer')).toEqual(['claim purge done']);

    // A month from 2025-03-01 is 31 days; the policy for new sessions became 28d.
    now = at('2025-02-28T09:00:00Z');
    await vault.createTenant('bank');
    await op().setRetention('bank', { archiveAfter: '1d', retain: '1mo', mode: 'compliance' });
    now = at('2025-03-01T09:00:00Z');
    await vault.session('bank', 'march').append({ type: 'message', role: 'user', content: 'open an account' });
    now = at('2025-03-01T10:00:00Z');
    await op().setRetention('bank', { archiveAfter: '1d', retain: '28d' });
    now = at('2025-03-03T09:00:00Z');
    expect(await run('bank')).toEqual(['march archive done']);
    expect(await row('bank', 'march')).toEqual({ retain_floor: '1mo', status: 'archived', keyed: true });
    now = at('2025-03-30T09:00:00Z'); // 29 days on
    expect(await run('bank')).toEqual([]);
    await expect(op().purge('bank', 'march')).rejects.toMatchObject({ code: 'RETENTION_NOT_DUE', message: expect.stringMatching(/2025-04-01T09:00:00/) });
    expect(await row('bank', 'march')).toEqual({ retain_floor: '1mo', status: 'archived', keyed: true });
    now = at('2025-04-01T09:30:00Z');
    expect(await run('bank')).toEqual(['march purge done']);
    expect((await vault.verify()).problems).toEqual([]);
  });

  it('as the operator role in compliance mode: a floor in days or weeks for one in months or years is refused unless it is as long from every start, and the purge it would have let through is refused', async () => {
    now = at('2025-04-02T09:00:00Z');
    for (const [tenant, retain] of [['fund', '1mo'], ['pension', '7y']] as const) {
      await vault.createTenant(tenant);
      await op().setRetention(tenant, { archiveAfter: '1d', retain, mode: 'compliance' });
    }
    now = at('2025-04-03T09:00:00Z'); // a month is 30 days from here, seven years 2,557
    for (const tenant of ['fund', 'pension']) await vault.session(tenant, 'april').append({ type: 'message', role: 'user', content: 'a pension transfer' });
    now = at('2025-04-05T09:00:00Z');
    for (const tenant of ['fund', 'pension']) await op().archive(tenant, 'april');
    const lowered = /^STORAGE_REFUSED database refused attack: the tenant is in compliance mode; retention floors are never lowered/;
    const floor = (tenant: string, text: string) => refusal(inSql(tenant, `UPDATE sessions SET retain_floor = '${text}' WHERE session_id = 'april'`));
    // Each was as long as the old floor from 2001-01-31, and is shorter from some start (30d: from 2025-03-01).
    for (const [tenant, old, lower] of [['fund', '1mo', '28d'], ['fund', '1mo', '4w'], ['fund', '1mo', '30d'], ['fund', '1mo', '720h'], ['pension', '7y', '2556d'], ['pension', '7y', '365w']] as const) {
      expect(atLeast(parseDuration(lower, 'x'), parseDuration(old, 'x'))).toBe(false);
      expect([lower, await floor(tenant, lower)]).toEqual([lower, expect.stringMatching(lowered)]);
    }
    // The purge 28d would have allowed on 2025-05-02, 29 days after the last event: its tombstone, stamped then.
    const purge = `WITH t AS (INSERT INTO tombstones (tenant_id, session_id, head_seq, head_hash, archive_digest, last_at, due_at, purged_at, purged_by, policy)
      SELECT s.tenant_id, s.session_id, s.head_seq, s.head_hash, a.digest, s.last_at, '2025-05-01T09:00:00Z', '2025-05-02T09:00:00Z', 'mallory', 'archive-after=1d retain=28d'
        FROM sessions s JOIN archives a USING (tenant_id, session_id) WHERE s.session_id = 'april' RETURNING 1) SELECT 1`;
    expect(await refusal(inSql('fund', purge))).toMatch(/^STORAGE_REFUSED database refused attack: purge before the retention floor \(1mo\)/);
    expect([await row('fund', 'april'), await row('pension', 'april')]).toEqual([
      { retain_floor: '1mo', status: 'archived', keyed: true },
      { retain_floor: '7y', status: 'archived', keyed: true },
    ]);
    // As long from every start, or longer: taken.
    for (const [tenant, same] of [['fund', '31d'], ['fund', '2mo'], ['pension', '2557d'], ['pension', '8y']] as const) expect([same, await floor(tenant, same)]).toEqual([same, 'not refused']);
  });

  it("in governance mode, a floor and policy lowered to 28d outside the vault: the vault's own run keeps the session its month, and verify names the floor", async () => {
    now = at('2025-06-01T09:00:00Z');
    await vault.createTenant('broker');
    await op().setRetention('broker', { archiveAfter: '1d', retain: '1mo' });
    now = at('2025-07-01T09:00:00Z'); // a month is 31 days from here
    await vault.session('broker', 'july').append({ type: 'message', role: 'user', content: 'sell my shares' });
    now = at('2025-07-03T09:00:00Z');
    expect(await run('broker')).toEqual(['july archive done']);
    // The thief, with the operator role's credentials: both lowerings are the governance override's to make, so the database takes them.
    expect(await refusal(inSql('broker', `UPDATE retention_policies SET retain = '28d'`))).toBe('not refused');
    expect(await refusal(inSql('broker', `UPDATE sessions SET retain_floor = '28d' WHERE session_id = 'july'`))).toBe('not refused');
    expect((await vault.verify({ tenant: 'broker' })).problems.map((p) => [p.session, p.kind])).toEqual([
      ['(retention policy)', 'policy_unrecorded'],
      ['july', 'floor_unrecorded'],
    ]);
    now = at('2025-07-30T09:00:00Z'); // 29 days on: due by the rows, not by the trail
    expect(await run('broker')).toEqual(['july purge failed:RETENTION_NOT_DUE']);
    expect(await row('broker', 'july')).toEqual({ retain_floor: '28d', status: 'archived', keyed: true });
    now = at('2025-08-01T09:30:00Z');
    expect(await run('broker')).toEqual(['july purge done']);
  });

  it("the database's order and the vault's agree on any two durations", async () => {
    const pairs: [string, string][] = [['28d', '1mo'], ['1mo', '28d'], ['31d', '1mo'], ['2556d', '7y'], ['2557d', '7y'], ['7y', '2555d'], ['7y', '2556d'], ['84mo', '7y'], ['365w', '7y']];
    const check = async (a: string, b: string) => {
      const [r] = rowsOf<{ ok: boolean }>(await withTenant(storeOf(vault).db, 'bank', 'comparing', (tx) => tx.execute(sql`SELECT session_vault_at_least(${a}, ${b}) AS ok`)));
      expect([a, b, r!.ok]).toEqual([a, b, atLeast(parseDuration(a, 'a'), parseDuration(b, 'b'))]);
    };
    for (const [a, b] of pairs) await check(a, b);
    await fc.assert(fc.asyncProperty(durationTexts, durationTexts, check), { numRuns: 200 });
    const [none] = rowsOf<{ ok: boolean | null }>(await withTenant(storeOf(vault).db, 'bank', 'comparing', (tx) => tx.execute(sql`SELECT session_vault_at_least('forever', '7y') AS ok`)));
    expect(none!.ok).toBeNull();
  });
});
