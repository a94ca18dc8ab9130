import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { storeHome, type StoreHome } from '../support/store-home';
import { refusal } from '../support/refusal';
import { asOwner } from '../support/owner';

/**
 * Tombstones written ahead of their sessions, by performing the attack. A tombstone is
 * held to its session's floor when it is written (0015, 0045) and a session may become
 * purged at commit when a tombstone is at its head (0046); a tombstone for a session that
 * did not exist yet had no floor to be held to. With the operator role's credentials a
 * thief wrote one for an id the agents would use, and once the customer's session was
 * created and archived, in a compliance-mode tenant keeping it seven years, marked it
 * purged and destroyed its key at once; the retention run also deleted the archive of a
 * session such a tombstone named while it was only archived. Since 0068 the database
 * refuses a tombstone for a session it does not hold and checks the purge again at
 * commit, the run finishes only the purges of purged sessions, and verify names a
 * tombstone of a session that is not purged.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())('tombstones written ahead of their sessions, on $name', (backend) => {
  let store: StoreHome;
  const inSql = (v: Vault, q: string) => withTenant(storeOf(v).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)));
  const objects = () => {
    const dir = path.join(store.home, 'archive');
    return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((f) => statSync(path.join(dir, f)).isFile()) : [];
  };
  /** A tombstone for `session` at head 1, dated as its purge would be now, as a thief writes it. */
  const tombstone = (session: string) => `INSERT INTO tombstones (tenant_id, session_id, head_seq, head_hash, archive_digest, last_at, due_at, purged_at, purged_by, policy)
    VALUES ('bank', '${session}', 1, NULL, '\\x00', now() - interval '1 day', now(), now(), 'mallory', 'archive-after=30d retain=7y')`;

  beforeAll(async () => {
    store = await storeHome(backend);
    await store.withVault(async (v) => {
      await v.createTenant('bank');
      await v.operator({ actor: 'ops', reason: 'policy' }).setRetention('bank', { archiveAfter: '30d', retain: '7y', mode: 'compliance' });
    });
  }, 120_000);
  afterAll(() => store?.cleanup());

  it('as the operator role: a tombstone for a session the vault does not hold is refused, and none is stored', async () => {
    await store.withVault(async (v) => {
      expect(await refusal(inSql(v, tombstone('claim-9001')))).toMatch(/^STORAGE_REFUSED database refused attack: a tombstone is written only for a session the vault holds/);
      expect(rowsOf(await inSql(v, 'SELECT session_id FROM tombstones'))).toEqual([]);
    });
  });

  it("one written anyway (before 0068, or by the owner): once the customer's session is created and archived, the retention run leaves its archive alone and the operator role's purge with it is refused at commit; the session and its key stay", async () => {
    await store.withVault(async (v) => {
      await asOwner(v, store.database ?? '', [{ text: tombstone('claim-9001') }], { triggers: 'off' });
      await v.session('bank', 'claim-9001').append({ type: 'message', role: 'user', content: 'my claim' });
      const op = v.operator({ actor: 'ops', reason: 'nightly' });
      await op.archive('bank', 'claim-9001');
      const archived = objects();
      expect(archived).toHaveLength(1);
      const run: string[] = [];
      for await (const i of op.retentionRun()) run.push(`${i.tenant}/${i.session} ${i.action} ${i.outcome}`);
      expect(run).toEqual([]); // before: `finish-purge done`, and the archive deleted
      expect(objects()).toEqual(archived);
      const purge = refusal(
        withTenant(storeOf(v).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(`UPDATE sessions SET status = 'purged', wrapped_data_key = NULL WHERE session_id = 'claim-9001'`))),
      );
      expect(await purge).toMatch(/^STORAGE_REFUSED database refused attack: a purge counts from the session's last-event time/);
      expect(await v.sessionInfo('bank', 'claim-9001')).toMatchObject({ status: 'archived', events: 1 });
      expect((await op.state('bank', 'claim-9001')).messages.map((m) => m.content)).toEqual(['my claim']);
    });
  });

  it('dated after the session went quiet, the purge is still held to the floor at commit', async () => {
    await store.withVault(async (v) => {
      await asOwner(v, store.database ?? '', [{ text: tombstone('claim-9002').replace("now() - interval '1 day'", "now() + interval '1 hour'") }], { triggers: 'off' });
      await v.session('bank', 'claim-9002').append({ type: 'message', role: 'user', content: 'my other claim' });
      const op = v.operator({ actor: 'ops', reason: 'nightly' });
      await op.archive('bank', 'claim-9002');
      const purge = refusal(
        withTenant(storeOf(v).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(`UPDATE sessions SET status = 'purged', wrapped_data_key = NULL WHERE session_id = 'claim-9002'`))),
      );
      expect(await purge).toMatch(/^STORAGE_REFUSED database refused attack: purge before the retention floor \(7y\)/);
      expect((await op.state('bank', 'claim-9002')).messages.map((m) => m.content)).toEqual(['my other claim']);
      // verify names each tombstone of a session that is not purged (before: nothing).
      expect((await v.verify()).problems).toEqual([
        { tenant: 'bank', session: 'claim-9001', seq: 1, kind: 'tombstone_mismatch' },
        { tenant: 'bank', session: 'claim-9002', seq: 1, kind: 'tombstone_mismatch' },
      ]);
      expect((await v.verify({ tenant: 'bank', session: 'claim-9002' })).problems).toEqual([{ tenant: 'bank', session: 'claim-9002', seq: 1, kind: 'tombstone_mismatch' }]);
    });
  });
});
