import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault, VerifyProblem } from '../../src/vault';

/**
 * Purges against the signed access trail, by performing the attack: the operator role
 * (its database credentials stolen, no keyring; the application role may not purge at all:
 * operator-role.test.ts) purges an archived session itself,
 * stamping it with a real operator's name and a purge time the tombstone guard accepts,
 * one past the session's retention, in the future if need be. The tombstone then agrees
 * with the chain and the policy; `verify` must still name it.
 */
afterAll(dropCreatedDatabases);

const DAY = 86_400_000;
const kinds = (problems: readonly VerifyProblem[]) => problems.map((p) => [p.session, p.kind]).sort();

describe.each(backends())('purges against the access trail on $name', (backend) => {
  let vault: Vault;
  let close: () => Promise<void>;
  let now = Date.parse('2026-03-01T09:00:00Z');
  const alice = () => vault.operator({ actor: 'alice', reason: 'retention' });
  /** What the vault's purge writes, written by the operator role: the session marked purged, its key gone, its tombstone. */
  const purgeByHand = (session: string, purgedAt: Date) =>
    withTenant(storeOf(vault).db, 'bank', 'attack', async (tx) => {
      await tx.execute(sql.raw(`UPDATE sessions SET status = 'purged', wrapped_data_key = NULL WHERE session_id = '${session}'`));
      await tx.execute(
        sql.raw(`INSERT INTO tombstones (tenant_id, session_id, head_seq, head_hash, archive_digest, last_at, due_at, purged_at, purged_by, policy)
         SELECT s.tenant_id, s.session_id, s.head_seq, s.head_hash, a.digest, s.last_at, s.last_at + interval '2 days', '${purgedAt.toISOString()}', 'alice', 'archive-after=1d retain=2d'
           FROM sessions s JOIN archives a ON a.tenant_id = s.tenant_id AND a.session_id = s.session_id AND a.head_seq = s.head_seq
          WHERE s.session_id = '${session}'`),
      );
    });

  beforeAll(async () => {
    ({ vault, close } = await testVault(backend, { clock: () => new Date(now) }));
    await vault.createTenant('bank');
    await alice().setRetention('bank', { archiveAfter: '1d', retain: '2d' });
    for (const s of ['by-hand', 'by-run', 'early', 'kept']) await vault.session('bank', s).append({ type: 'message', role: 'user', content: s });
    now += 2 * DAY;
    for await (const i of alice().retentionRun({ tenant: 'bank' })) expect([i.action, i.outcome]).toEqual(['archive', 'done']);
    await vault.session('bank', 'early').append({ type: 'message', role: 'user', content: 'back again' }); // restored, its retention starts again
    await alice().archive('bank', 'early');
  });
  afterAll(() => close());

  it("the vault's own purges, by an operator and by a retention run, verify clean", async () => {
    now += DAY;
    await alice().purge('bank', 'kept');
    await expect(alice().purge('bank', 'early')).rejects.toMatchObject({ code: 'RETENTION_NOT_DUE' }); // recorded, and its failure
    const run = [];
    for await (const i of vault.operator({ actor: 'bob', reason: 'nightly' }).retentionRun({ tenant: 'bank', dryRun: true })) run.push(i.session);
    expect(run).toEqual(['by-hand', 'by-run']);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });

  it('the operator role purges a session due for purging, in an operator\'s name: verify names it', async () => {
    await purgeByHand('by-hand', new Date(now));
    const run = [];
    for await (const i of vault.operator({ actor: 'bob', reason: 'nightly' }).retentionRun({ tenant: 'bank' })) run.push([i.session, i.action, i.outcome]);
    // The run purges what is due, and leaves the objects of the session purged by hand (no record of it: not a crash's), for an operator to decide on.
    expect(run).toEqual([['by-hand', 'finish-purge', 'failed:PURGE_UNRECORDED'], ['by-run', 'purge', 'done']]);
    const report = await vault.verify({ tenant: 'bank' });
    expect(kinds(report.problems)).toEqual([['by-hand', 'purge_unrecorded']]);
    expect(report.problems[0]!.seq).toBe(1);
    expect(kinds((await vault.verify({ tenant: 'bank', session: 'by-hand' })).problems)).toEqual([['by-hand', 'purge_unrecorded']]);
  });

  it('the operator role purges a session before its retention, stamped with a date past it: the guard lets it in, verify names it', async () => {
    // Its retention runs two days from its last event, a day ago: an honest stamp is refused.
    const refused = await purgeByHand('early', new Date(now)).then(() => 'accepted', (e: Error & { cause?: Error }) => `${e.message} ${e.cause?.message ?? ''}`);
    expect(refused).toMatch(/retention floor|before/);
    // A stamp two days ahead passes the guard and the tombstone's own retention check.
    await purgeByHand('early', new Date(now + 2 * DAY));
    expect(kinds((await vault.verify({ tenant: 'bank' })).problems)).toEqual([
      ['by-hand', 'purge_unrecorded'],
      ['early', 'purge_unrecorded'],
    ]);
  });
});
