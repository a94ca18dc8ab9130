import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { runRetention, storeHome, type StoreHome } from '../support/store-home';
import { type Vault } from '../../src/vault';
import { releaseKeyOf, storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { refusal } from '../support/refusal';

/**
 * The tenant's retention against the retention role, by performing the attack. A session
 * is kept by the longer of its floor and its tenant's current retain, and archiving raises
 * its floor to the retain of the day (docs/retention.md); the vault did both, the database
 * neither: it held a purge to the stored floor alone. In a compliance-mode tenant that
 * raised its retention from one year to seven, a thief with the retention job's database
 * credentials (no keyring, no say over policies) archived a session created under one
 * year in SQL (an archive record of its own, the release function), its floor left at `1y`, and purged it, key and all, though the vault keeps
 * it seven years; and a session so archived was left with the `1y` floor that a later
 * policy for new sessions no longer covered. Since 0073 the database raises a floor when
 * its session is archived, and holds a purge to the tenant's current retain as well.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())("a purge is held to the tenant's current retention, on $name", (backend) => {
  let store: StoreHome;
  let vault: Vault;
  let now = Date.parse('2024-06-03T09:00:00Z');
  const clock = () => new Date(now);
  const as = (role: string, q: string) => withTenant(storeOf(vault).db, 'insurer', 'attack', (tx) => tx.execute(sql.raw(q)), role);
  const session = async (id: string) =>
    rowsOf<{ status: string; retain_floor: string | null; keyed: boolean }>(
      await as(storeOf(vault).layout.operatorRole, `SELECT status, retain_floor, wrapped_data_key IS NOT NULL AS keyed FROM sessions WHERE session_id = '${id}'`),
    )[0];
  // The retention job's own statements, the vault's archive and purge made by hand: an archive record of its own (no
  // object), the release function called on it (since 0077 the only way a session becomes archived), the tombstone counting
  // one year. Since 0078 and 0079 the record and the release ask for a proof only a holder of the vault's keys makes:
  // without one both are refused (release-proof.test.ts); these statements are made with one, as a thief holding the keyring too would.
  const archive = async (id: string, proof: 'keyring holder' | 'none' = 'keyring holder') => {
    const job = storeOf(vault).layout.retentionRole;
    const head = Number(rowsOf<{ h: string }>(await as(job, `SELECT head_seq AS h FROM sessions WHERE session_id = '${id}'`))[0]!.h);
    const made = proof === 'none' ? new Uint8Array(32) : await releaseKeyOf(vault).proof({ tenant: 'insurer', session: id, headSeq: head, digest: new Uint8Array([0]) });
    const hex = Buffer.from(made).toString('hex');
    const record = `INSERT INTO archives (tenant_id, session_id, head_seq, head_hash, object_name, store, digest, bytes, archived_at, archived_by, verified_at, proof)
         SELECT tenant_id, session_id, head_seq, head_hash, 'x', 'folder', '\\x00'::bytea, 1, now(), 'mallory', now(), '\\x${hex}'::bytea FROM sessions WHERE session_id = '${id}'
       ON CONFLICT DO NOTHING`;
    if (proof === 'none') expect(await refusal(as(job, record))).toMatch(/an archive record needs the proof/);
    else await as(job, record);
    return as(job, `SELECT session_vault_release_archived('insurer', '${id}', ${head}, '\\x00'::bytea, '\\x${hex}'::bytea)`);
  };
  const byHand = (id: string) => `UPDATE sessions SET status = 'archived' WHERE session_id = '${id}'`;
  const purge = (id: string) =>
    `WITH t AS (INSERT INTO tombstones (tenant_id, session_id, head_seq, head_hash, archive_digest, last_at, due_at, purged_at, purged_by, policy)
       SELECT tenant_id, session_id, head_seq, head_hash, '\\x00'::bytea, last_at, last_at + interval '1 year', now(), 'mallory', 'archive-after=1d retain=1y'
         FROM sessions WHERE session_id = '${id}' RETURNING 1)
     UPDATE sessions SET status = 'purged', wrapped_data_key = NULL WHERE session_id = '${id}' AND (SELECT count(*) FROM t) = 1`;

  beforeAll(async () => {
    store = await storeHome(backend, { clock });
    vault = await store.open();
    const ops = vault.operator({ actor: 'ops', reason: 'records policy RP-4' });
    for (const tenant of ['insurer', 'lender']) {
      await vault.createTenant(tenant);
      await ops.setRetention(tenant, { archiveAfter: '1d', retain: '1y', mode: 'compliance' });
      for (const id of ['claim-a', 'claim-b', 'claim-c']) await vault.session(tenant, id).append({ type: 'message', role: 'user', content: `the customer's claim ${id}` });
    }
    await vault.session('insurer', 'claim-z').append({ type: 'message', role: 'user', content: 'an early claim, archived at once' });
    await ops.archive('insurer', 'claim-z');
    // Half a year later the regulator asks for seven years: a raise, which compliance mode allows.
    now = Date.parse('2025-01-06T09:00:00Z');
    for (const tenant of ['insurer', 'lender']) await ops.setRetention(tenant, { archiveAfter: '1d', retain: '7y', mode: 'compliance' });
  });
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it("the retention job's own run archives sessions whose floors the tenant's policy raises", async () => {
    // The embedded store serves one process at a time: the operator's vault steps aside while the job's runs.
    const { retentionRole } = storeOf(vault).layout;
    await vault.close();
    let runs: string[][] = [];
    try {
      runs = await runRetention(store, { tenant: 'lender' }, { appRole: retentionRole });
    } finally {
      vault = await store.open();
    }
    expect(runs).toEqual(['claim-a', 'claim-b', 'claim-c'].map((id) => [id, 'archive', 'done']));
    const floors = rowsOf(await withTenant(storeOf(vault).db, 'lender', 'reading', (tx) => tx.execute(sql.raw(`SELECT session_id, status, retain_floor FROM sessions ORDER BY session_id`))));
    expect(floors).toEqual(['claim-a', 'claim-b', 'claim-c'].map((id) => ({ session_id: id, status: 'archived', retain_floor: '7y' })));
    expect((await vault.verify({ tenant: 'lender' })).problems).toEqual([]);
  });

  it('as the retention role: a session created under one year, in a tenant now keeping seven, is not purged two and a half years after its last event', async () => {
    const { retentionRole } = storeOf(vault).layout;
    expect(await session('claim-a')).toEqual({ status: 'active', retain_floor: '1y', keyed: true });
    expect(await refusal(as(retentionRole, byHand('claim-a')))).toMatch(/a session is archived only by the release function/);
    expect(await refusal(archive('claim-a', 'none'))).toMatch(/no release proof/);
    expect(await refusal(archive('claim-a'))).toBe('not refused');
    expect(await refusal(as(retentionRole, purge('claim-a')))).toMatch(/^STORAGE_REFUSED database refused attack: purge before the retention floor \(7y\)/);
    expect(await session('claim-a')).toEqual({ status: 'archived', retain_floor: '7y', keyed: true });
    // The vault itself would not have purged it either: its own purge names the day it may.
    now = Date.now();
    expect(await refusal(vault.operator({ actor: 'ops', reason: 'erasure request' }).purge('insurer', 'claim-a'))).toMatch(/^RETENTION_NOT_DUE .*2031-06-03/);
    // Archived under one year, before the raise: its floor stays, and the tenant's seven years hold its purge.
    expect(await session('claim-z')).toEqual({ status: 'archived', retain_floor: '1y', keyed: true });
    expect(await refusal(as(retentionRole, purge('claim-z')))).toMatch(/^STORAGE_REFUSED database refused attack: purge before the tenant's retention \(7y\)/);
    expect(await session('claim-z')).toEqual({ status: 'archived', retain_floor: '1y', keyed: true });
    expect(await refusal(vault.operator({ actor: 'ops', reason: 'erasure request' }).purge('insurer', 'claim-z'))).toMatch(/^RETENTION_NOT_DUE .*2031-06-03/);
  });

  it('the floor a session is archived with holds after the policy for new sessions is lowered again', async () => {
    const { retentionRole } = storeOf(vault).layout;
    expect(await refusal(archive('claim-b'))).toBe('not refused');
    expect(await session('claim-b')).toEqual({ status: 'archived', retain_floor: '7y', keyed: true });
    // Compliance mode lets the policy for new sessions go down; sessions archived under seven years keep them.
    await vault.operator({ actor: 'ops', reason: 'new product line' }).setRetention('insurer', { archiveAfter: '1d', retain: '1y' });
    expect(await refusal(as(retentionRole, purge('claim-b')))).toMatch(/^STORAGE_REFUSED database refused attack: purge before the retention floor \(7y\)/);
    expect(await session('claim-b')).toEqual({ status: 'archived', retain_floor: '7y', keyed: true });
  });

  it("the vault's own archive, once the policy went down again, keeps the floor the session had, and verify is clean", async () => {
    await vault.operator({ actor: 'ops', reason: 'quiet' }).archive('insurer', 'claim-c');
    expect(await session('claim-c')).toEqual({ status: 'archived', retain_floor: '1y', keyed: true });
    expect((await vault.verify({ tenant: 'insurer', session: 'claim-c' })).problems).toEqual([]);
  });
});
