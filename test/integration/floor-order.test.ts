import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { atLeast, parseDuration } from '../../src/retention';
import { storeHome, type StoreHome } from '../support/store-home';
import { refusal } from '../support/refusal';

/**
 * Compliance-mode floors against the operator role, by performing the attack. The
 * database refused lowering a floor by comparing intervals, which Postgres orders by a
 * 30-day month and a 360-day year: a 7-year floor set to `2521d` passed as longer, though
 * by the calendar the vault counts by it is 35 days shorter, and the session was purged
 * then. Since 0069 floors are compared as the vault compares durations.
 */
afterAll(dropCreatedDatabases);

const DAY = 86_400_000;

describe.each(backends())('compliance-mode floors ordered as the vault orders them, on $name', (backend) => {
  let store: StoreHome;
  const inSql = (v: Vault, q: string) => withTenant(storeOf(v).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)));

  beforeAll(async () => {
    store = await storeHome(backend);
    // A session quiet for 2,530 days: inside its seven years (2,556 days from 2001-01-31), past 2,521.
    await store.withVault(
      async (v) => {
        await v.createTenant('bank');
        await v.session('bank', 'aged').append({ type: 'message', role: 'user', content: 'customer aged' });
      },
      { clock: () => new Date(Date.now() - 2530 * DAY) },
    );
    await store.withVault(async (v) => {
      const op = v.operator({ actor: 'ops', reason: 'policy' });
      await op.setRetention('bank', { archiveAfter: '30d', retain: '7y', mode: 'compliance' });
      await op.archive('bank', 'aged');
    });
  }, 120_000);
  afterAll(() => store?.cleanup());

  it('as the operator role: a floor shorter by the calendar, whatever the interval order says, is refused, and the session is not purged before its seven years', async () => {
    await store.withVault(async (v) => {
      const floor = (text: string) => refusal(inSql(v, `UPDATE sessions SET retain_floor = '${text}' WHERE session_id = 'aged'`));
      // Each longer than 7y to Postgres' interval order (2,520 days), shorter to the calendar's.
      for (const lower of ['2521d', '360w', '2555d', '364w', '2556d']) {
        expect(atLeast(parseDuration(lower, 'x'), parseDuration('7y', 'x'))).toBe(false);
        expect([lower, await floor(lower)]).toEqual([lower, expect.stringMatching(/^STORAGE_REFUSED database refused attack: the tenant is in compliance mode; retention floors are never lowered/)]);
      }
      const purge = `WITH t AS (INSERT INTO tombstones (tenant_id, session_id, head_seq, head_hash, archive_digest, last_at, due_at, purged_at, purged_by, policy)
        SELECT s.tenant_id, s.session_id, s.head_seq, s.head_hash, a.digest, s.last_at, now(), now(), 'mallory', 'archive-after=30d retain=2521d'
          FROM sessions s JOIN archives a USING (tenant_id, session_id) WHERE s.session_id = 'aged' RETURNING 1) SELECT 1`;
      expect(await refusal(inSql(v, purge))).toMatch(/^STORAGE_REFUSED database refused attack: purge before the retention floor \(7y\)/);
      expect(rowsOf(await inSql(v, `SELECT retain_floor, status FROM sessions WHERE session_id = 'aged'`))).toEqual([{ retain_floor: '7y', status: 'archived' }]);
      // The same length written otherwise, or longer from every start, is not lower: taken (2,556 days are seven years from 2001-01-31 and one day short from 2026-03-01, 0070).
      for (const same of ['84mo', '2557d', '8y']) expect([same, await floor(same)]).toEqual([same, 'not refused']);
      expect((await v.verify()).problems).toEqual([{ tenant: 'bank', session: 'aged', seq: 1, kind: 'floor_unrecorded' }]); // 8y is more than the trail gave it
    });
  });
});
