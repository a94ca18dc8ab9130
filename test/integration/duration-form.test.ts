import path from 'node:path';
import fc from 'fast-check';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { parseDuration, parsePolicy } from '../../src/retention';
import { storeHome, type StoreHome } from '../support/store-home';
import { refusal } from '../support/refusal';
import { asOwner } from '../support/owner';
import { holdLeftArchived } from '../support/held-archived';

/**
 * Retention durations against the roles that write them, by performing the attacks. The
 * database's guards read a floor or a policy with session_vault_interval, which gives
 * NULL for text that is not a duration, and NULL compares as neither shorter nor longer:
 * with the operator role's credentials a thief set a compliance-mode session's floor to
 * `forever` and purged it, key and all, seconds after it was created; a policy row of
 * `forever` stopped the retention run of every tenant. Since 0067 the database refuses any
 * duration the vault would not read; a row stored before is reported session by session
 * (`failed:CHAIN_BROKEN`) and the run goes on.
 */
afterAll(dropCreatedDatabases);

const DAY = 86_400_000;
/** Text the vault does not read as a duration: no unit, a unit it does not know, spaces, a leading zero, none, too long. */
const NOT_DURATIONS = ['forever', '', '0d', '07d', '7 y', '7y ', '7Y', '1000000d', '7031y', '84361mo', '366808w'];

describe.each(backends())('retention durations in the form the vault reads, on $name', (backend) => {
  let store: StoreHome;
  const inSql = (v: Vault, q: string, tenant = 'bank') => withTenant(storeOf(v).db, tenant, 'attack', (tx) => tx.execute(sql.raw(q)));

  beforeAll(async () => {
    store = await storeHome(backend);
    // Sessions idle for 40 days: due to be archived under archive-after 30d.
    await store.withVault(
      async (v) => {
        for (const t of ['bank', 'insurer', 'prop']) await v.createTenant(t);
        for (const s of ['due', 'bad']) await v.session('insurer', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
      },
      { clock: () => new Date(Date.now() - 40 * DAY) },
    );
    await store.withVault(async (v) => {
      const op = v.operator({ actor: 'ops', reason: 'setup' });
      await op.setRetention('bank', { archiveAfter: '30d', retain: '7y', mode: 'compliance' });
      for (const s of ['victim', 'kept']) {
        await v.session('bank', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
        await op.archive('bank', s);
      }
    });
  }, 120_000);
  afterAll(() => store?.cleanup());

  it("as the operator role: a compliance-mode session's floor written as text the database's guards read as no duration is refused, so the session is not purged years early; a policy the vault would not read is refused too", async () => {
    await store.withVault(async (v) => {
      const seen: string[] = [];
      for (const text of NOT_DURATIONS) {
        seen.push(`floor ${JSON.stringify(text)}: ${(await refusal(inSql(v, `UPDATE sessions SET retain_floor = '${text}' WHERE session_id = 'victim'`))).split(' | ')[0]}`);
        seen.push(`governance floor ${JSON.stringify(text)}: ${(await refusal(inSql(v, `UPDATE sessions SET retain_floor = '${text}' WHERE session_id = 'due'`, 'insurer'))).split(' | ')[0]}`);
        for (const col of ['retain', 'archive_after']) seen.push(`${col} ${JSON.stringify(text)}: ${(await refusal(inSql(v, `UPDATE retention_policies SET ${col} = '${text}'`))).split(' | ')[0]}`);
      }
      seen.push(`retain shorter: ${(await refusal(inSql(v, `UPDATE retention_policies SET retain = '29d', archive_after = '30d'`))).split(' | ')[0]}`);
      const rule = (name: string) => `STORAGE_REFUSED database refused attack: the row breaks the rule ${name} (23514)`;
      // In compliance mode a floor the guard cannot read is taken for a lowering (0069), and one it reads but the vault does not (too long) breaks the form; in governance mode, where lowering is allowed, the form is refused (0067).
      const lowered = 'STORAGE_REFUSED database refused attack: the tenant is in compliance mode; retention floors are never lowered';
      const floorRule = 'STORAGE_REFUSED database refused attack: a retention floor is a duration of the form the vault reads (30d, 7y)';
      expect(seen).toEqual([
        ...NOT_DURATIONS.flatMap((text) => [
          `floor ${JSON.stringify(text)}: ${['7031y', '84361mo', '366808w'].includes(text) ? floorRule : lowered}`,
          `governance floor ${JSON.stringify(text)}: ${floorRule}`,
          ...['retain', 'archive_after'].map((col) => `${col} ${JSON.stringify(text)}: ${rule('retention_policies_duration_form')}`),
        ]),
        `retain shorter: ${rule('retention_policies_duration_form')}`,
      ]);
      // The purge the unreadable floor let through before: its tombstone, then the session purged and its key destroyed.
      const purge = `WITH t AS (INSERT INTO tombstones (tenant_id, session_id, head_seq, head_hash, archive_digest, last_at, due_at, purged_at, purged_by, policy)
        SELECT s.tenant_id, s.session_id, s.head_seq, s.head_hash, a.digest, s.last_at, now(), now(), 'mallory', 'archive-after=30d retain=7y'
          FROM sessions s JOIN archives a USING (tenant_id, session_id) WHERE s.session_id = 'victim' RETURNING 1) SELECT 1`;
      expect(await refusal(inSql(v, purge))).toMatch(/^STORAGE_REFUSED database refused attack: purge before the retention floor \(7y\)/);
      expect(await refusal(inSql(v, `UPDATE sessions SET status = 'purged', wrapped_data_key = NULL WHERE session_id = 'victim'`))).toMatch(/a session is purged only with its tombstone/);
      expect(await v.sessionInfo('bank', 'victim')).toMatchObject({ status: 'archived' });
      const floors = rowsOf(await inSql(v, `SELECT session_id, retain_floor FROM sessions ORDER BY session_id`));
      expect(floors).toEqual([
        { session_id: 'kept', retain_floor: '7y' },
        { session_id: 'victim', retain_floor: '7y' },
      ]);
      expect(await v.retention('bank')).toMatchObject({ archiveAfter: '30d', retain: '7y', mode: 'compliance' });
      expect((await v.verify()).problems).toEqual([]);
    });
  });

  it('as the application role: a new session with such a floor is refused', async () => {
    await store.withVault(
      async (v) => {
        const insert = `INSERT INTO sessions (tenant_id, session_id, agent, status, created_at, head_seq, data_key_version, tenant_key_version, wrapped_data_key, wrap_seq, wrap_key_id, wrap_signature, retain_floor)
          SELECT tenant_id, 'planted', agent, 'active', now(), 0, data_key_version, tenant_key_version, wrapped_data_key, wrap_seq, wrap_key_id, wrap_signature, 'forever' FROM sessions WHERE session_id = 'due'`;
        expect(await refusal(inSql(v, insert, 'insurer'))).toMatch(/^STORAGE_REFUSED database refused attack: a retention floor is a duration of the form the vault reads/);
      },
      { appRole: 'session_vault_app' },
    );
  });

  it("takes exactly the durations and policies the vault reads: the database's rule and the vault's parser agree on any text", async () => {
    const amount = fc.oneof(fc.integer({ min: 0, max: 1_100_000 }), fc.constantFrom(7030, 7031, 84360, 84361, 366807, 366808, 999999, 1_000_000));
    const unit = fc.constantFrom('h', 'd', 'w', 'mo', 'y', 'm', 'Y', 'yr', '');
    const text = fc.oneof(
      fc.tuple(amount, unit).map(([n, u]) => `${n}${u}`),
      fc.tuple(fc.constantFrom('0', ' ', '+', '-', ''), amount, unit, fc.constantFrom('', ' ', '\n', 'x')).map(([a, n, u, b]) => `${a}${n}${u}${b}`),
      fc.string({ maxLength: 8 }),
    );
    const reads = (t: string, f: (t: string) => unknown) => {
      try {
        f(t);
        return true;
      } catch {
        return false;
      }
    };
    await store.withVault(async (v) => {
      await fc.assert(
        fc.asyncProperty(text, text, async (a, r) => {
          const [row] = rowsOf<{ a: boolean; r: boolean }>(await withTenant(storeOf(v).db, 'prop', 'checking', (tx) => tx.execute(sql`SELECT session_vault_duration_ok(${a}) AS a, session_vault_duration_ok(${r}) AS r`)));
          expect([a, row!.a]).toEqual([a, reads(a, (t) => parseDuration(t, 'd'))]);
          expect([r, row!.r]).toEqual([r, reads(r, (t) => parseDuration(t, 'd'))]);
          // The policy row: both durations, and retain at least archive-after, as parsePolicy compares them.
          const stored = await refusal(withTenant(storeOf(v).db, 'prop', 'setting', (tx) => tx.execute(sql`UPDATE retention_policies SET archive_after = ${a}, retain = ${r}`)));
          expect([a, r, stored === 'not refused']).toEqual([a, r, reads('', () => parsePolicy({ archiveAfter: a, retain: r }))]);
        }),
        { numRuns: 300 },
      );
      // Calendar months clamp to their last day, as the vault counts them: 1mo is not 31d, 12mo is 1y.
      const pairs: [string, string][] = [['31d', '1mo'], ['1mo', '31d'], ['1y', '12mo'], ['12mo', '1y'], ['52w', '1y'], ['1y', '52w'], ['365d', '1y'], ['1y', '365d']];
      for (const [a, r] of pairs) {
        const stored = await refusal(withTenant(storeOf(v).db, 'prop', 'setting', (tx) => tx.execute(sql`UPDATE retention_policies SET archive_after = ${a}, retain = ${r}`)));
        expect([a, r, stored === 'not refused']).toEqual([a, r, reads('', () => parsePolicy({ archiveAfter: a, retain: r }))]);
      }
    });
  });

  it("past the rules (a row stored before 0067, or by the owner): the retention run reports each session it cannot decide (`failed:CHAIN_BROKEN`) and goes on to the other tenants; new sessions take the default's floor; `retention set` repairs the row; verify names both", async () => {
    await store.withVault(async (v) => {
      // A session archived before its hold, which the hold could not bring back: the run restores it, which needs no retention.
      await v.session('bank', 'held').append({ type: 'message', role: 'user', content: 'customer held' });
      await v.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'held');
      await holdLeftArchived(v.operator({ actor: 'legal', reason: 'case 4' }), path.join(store.home, 'archive'), 'bank', 'held');
      await asOwner(
        v,
        store.database ?? '',
        [
          { text: 'ALTER TABLE retention_policies DROP CONSTRAINT retention_policies_duration_form' },
          { text: `UPDATE retention_policies SET retain = 'forever' WHERE tenant_id = 'bank'` },
          { text: `UPDATE sessions SET retain_floor = 'forever' WHERE tenant_id = 'insurer' AND session_id = 'bad'` },
        ],
        { triggers: 'off' },
      );
      const op = v.operator({ actor: 'ops', reason: 'nightly' });
      const run = async (dryRun: boolean) => {
        const items: string[] = [];
        for await (const i of op.retentionRun({ dryRun })) items.push(`${i.tenant}/${i.session} ${i.action} ${i.outcome}`);
        return items;
      };
      const undecided = ['bank/kept purge failed:CHAIN_BROKEN', 'bank/victim purge failed:CHAIN_BROKEN', 'insurer/bad archive failed:CHAIN_BROKEN'];
      // (A run reports what it cannot decide at once, and the page's actions once they are done.)
      expect(await run(true)).toEqual([...undecided.slice(0, 2), 'bank/held restore planned', undecided[2], 'insurer/due archive planned']);
      expect(await run(false)).toEqual([...undecided.slice(0, 2), 'bank/held restore done', undecided[2], 'insurer/due archive done']);
      expect(await v.sessionInfo('bank', 'held')).toMatchObject({ status: 'active' });
      expect(await v.sessionInfo('insurer', 'due')).toMatchObject({ status: 'archived' });
      expect(await refusal(v.retention('bank'))).toMatch(/^CHAIN_BROKEN tenant bank's retention policy row is unreadable/);
      expect(await refusal(op.purge('bank', 'victim'))).toMatch(/^CHAIN_BROKEN tenant bank's retention policy row is unreadable/);
      // The agents go on: a new session takes the default's floor, which the database reads.
      await v.session('bank', 'new').append({ type: 'message', role: 'user', content: 'customer new' });
      const floors = rowsOf(await inSql(v, `SELECT retain_floor FROM sessions WHERE session_id = 'new'`));
      expect(floors).toEqual([{ retain_floor: '7y' }]);
      const problems = (await v.verify()).problems.map((p) => `${p.tenant}/${p.session} ${p.kind}`);
      // (`prop`'s row is the property's, written in SQL.)
      expect(problems).toEqual(['bank/(retention policy) policy_unrecorded', 'insurer/bad floor_unrecorded', 'prop/(retention policy) policy_unrecorded']);
      // The operator sets the policy again through the vault, which records it: the run decides the tenant's sessions again.
      await op.setRetention('bank', { archiveAfter: '30d', retain: '7y', mode: 'compliance' });
      expect(await v.retention('bank')).toMatchObject({ retain: '7y', mode: 'compliance' });
      expect((await run(true)).filter((i) => i.startsWith('bank/'))).toEqual([]);
    });
  });
});
