import fc from 'fast-check';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { type Vault } from '../../src/vault';
import { releaseKeyOf, storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { formatDuration, longer, parseDuration } from '../../src/retention';
import { refusal } from '../support/refusal';
import { durationTexts } from '../support/durations';

/**
 * A new session's floor against the roles that create sessions, by performing the attack.
 * The floor is what the database holds a purge to, and the vault writes the tenant's
 * retain into it; the database took whatever the inserting role gave. With the
 * application role's credentials a session row under an id the agents would use, in a
 * compliance-mode tenant kept seven years, carried a floor of `1h` (or none), and the
 * retention role's purge of it passed two hours after its last event. Since 0072 the
 * database raises a new session's floor to its tenant's retain.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())("a new session's floor is its tenant's retention at least, on $name", (backend) => {
  let vault: Vault;
  let close: () => Promise<void>;
  const as = (role: string, q: string) => withTenant(storeOf(vault).db, 'insurer', 'attack', (tx) => tx.execute(sql.raw(q)), role);
  const floors = async () => rowsOf<{ session_id: string; retain_floor: string | null }>(await as(storeOf(vault).layout.operatorRole, `SELECT session_id, retain_floor FROM sessions ORDER BY session_id`));

  beforeAll(async () => {
    ({ vault, close } = await testVault(backend, {}));
    await vault.createTenant('insurer');
    await vault.operator({ actor: 'ops', reason: 'records policy RP-4' }).setRetention('insurer', { archiveAfter: '1d', retain: '7y', mode: 'compliance' });
    await vault.session('insurer', 'real').append({ type: 'message', role: 'user', content: 'a claim' });
  });
  afterAll(() => close?.());

  it('as the application role: a session stored with a floor of 1h, or none, keeps seven years, and the retention role cannot purge it two hours after its last event', async () => {
    const { appRole, retentionRole } = storeOf(vault).layout;
    // The row as the vault writes it (its wrap copied: the database cannot tell), under ids the agents would use, with the role's own floor.
    const plant = (session: string, floor: string) =>
      as(appRole, `INSERT INTO sessions (tenant_id, session_id, agent, status, created_at, head_seq, data_key_version, tenant_key_version, wrapped_data_key, wrap_seq, wrap_key_id, wrap_signature, retain_floor)
        SELECT tenant_id, '${session}', agent, 'active', now(), 0, data_key_version, tenant_key_version, wrapped_data_key, wrap_seq, wrap_key_id, wrap_signature, ${floor}
          FROM sessions WHERE session_id = 'real'`);
    expect(await refusal(plant('claim-9001', `'1h'`))).toBe('not refused');
    expect(await refusal(plant('claim-9002', 'NULL'))).toBe('not refused');
    expect(await refusal(plant('claim-9003', `'2556d'`))).toBe('not refused');
    expect(await floors()).toEqual([
      { session_id: 'claim-9001', retain_floor: '7y' },
      { session_id: 'claim-9002', retain_floor: '7y' },
      { session_id: 'claim-9003', retain_floor: '2557d' }, // 2,556 days are shorter than seven years with two 29 Februaries
      { session_id: 'real', retain_floor: '7y' },
    ]);
    // The purge the 1h floor let through: its last event two hours ago, archived, its tombstone, then purged and its key destroyed.
    expect(await refusal(as(appRole, `UPDATE sessions SET first_at = now() - interval '2 hours', last_at = now() - interval '2 hours' WHERE session_id = 'claim-9001'`))).toBe('not refused');
    // Archived (since 0077 only the release function archives a session): an archive record of its own, then the release; since
    // 0078 and 0079 both ask for a proof only a holder of the vault's keys makes: made with one, as a thief holding the keyring too would.
    const proof = Buffer.from(await releaseKeyOf(vault).proof({ tenant: 'insurer', session: 'claim-9001', headSeq: 0, digest: new Uint8Array([0]) })).toString('hex');
    expect(await refusal(as(retentionRole, `INSERT INTO archives (tenant_id, session_id, head_seq, head_hash, object_name, store, digest, bytes, archived_at, archived_by, verified_at, proof)
        SELECT tenant_id, session_id, head_seq, '\\x00'::bytea, 'x', 'folder', '\\x00'::bytea, 1, now(), 'mallory', now(), '\\x${proof}'::bytea FROM sessions WHERE session_id = 'claim-9001'`))).toBe('not refused');
    expect(await refusal(as(retentionRole, `SELECT session_vault_release_archived('insurer', 'claim-9001', 0, '\\x00'::bytea, '\\x${proof}'::bytea)`))).toBe('not refused');
    const purge = `WITH t AS (INSERT INTO tombstones (tenant_id, session_id, head_seq, head_hash, archive_digest, last_at, due_at, purged_at, purged_by, policy)
        SELECT tenant_id, session_id, head_seq, head_hash, '\\x00'::bytea, last_at, last_at + interval '1 hour', now(), 'mallory', 'archive-after=1d retain=1h' FROM sessions WHERE session_id = 'claim-9001' RETURNING 1)
      SELECT count(*) FROM t`;
    expect(await refusal(as(retentionRole, purge))).toMatch(/^STORAGE_REFUSED database refused attack: purge before the retention floor \(7y\)/);
    expect(rowsOf(await as(retentionRole, `SELECT status, wrapped_data_key IS NOT NULL AS keyed FROM sessions WHERE session_id = 'claim-9001'`))).toEqual([{ status: 'archived', keyed: true }]);
  });

  it("the database's longer of two durations is the vault's", async () => {
    const check = async (a: string, b: string) => {
      const [r] = rowsOf<{ l: string }>(await withTenant(storeOf(vault).db, 'insurer', 'comparing', (tx) => tx.execute(sql`SELECT session_vault_longer(${a}, ${b}) AS l`)));
      expect([a, b, r!.l]).toEqual([a, b, formatDuration(longer(parseDuration(a, 'a'), parseDuration(b, 'b')))]);
    };
    for (const [a, b] of [['30d', '1mo'], ['1mo', '30d'], ['2556d', '7y'], ['7y', '7y'], ['84mo', '7y'], ['142862w', '2738y']] as const) await check(a, b);
    await fc.assert(fc.asyncProperty(durationTexts, durationTexts, check), { numRuns: 200 });
  });
});
