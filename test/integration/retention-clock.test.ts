import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault, VerifyProblem } from '../../src/vault';

/**
 * Retention counts from a session's last-event time (sessions.last_at): a session is due
 * for purging `retain` after it. The attacks: the vault's own role (the operator's, the
 * most privileged; its credentials stolen) sets it years back so that the operator's own retention run purges the session
 * early; a DBA with triggers off does the same.
 */
afterAll(dropCreatedDatabases);

const DAY = 86_400_000;
const kinds = (problems: readonly VerifyProblem[]) => problems.map((p) => [p.session, p.kind]).sort();
const refused = (p: Promise<unknown>) => p.then(() => 'accepted', (e: Error & { cause?: Error }) => `${(e as { code?: string }).code ?? ''} ${e.message} ${e.cause?.message ?? ''}`);

describe.each(backends())("a session's retention clock on $name", (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  let now = Date.parse('2026-03-01T09:00:00Z');
  const app = (text: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(text)));
  const lastAt = async (session: string) => (await vault.sessions('bank')).find((s) => s.session === session)!.lastAt;
  const operator = () => vault.operator({ actor: 'ops', reason: 'nightly' });

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend, { clock: () => new Date(now) }));
    await vault.createTenant('bank');
    await operator().setRetention('bank', { archiveAfter: '1d', retain: '7y' });
    for (const s of ['live', 'cold']) {
      await vault.session('bank', s).append({ type: 'message', role: 'user', content: `${s} 1` });
      now += 1000;
      await vault.session('bank', s).append({ type: 'message', role: 'user', content: `${s} 2` });
    }
    now += 2 * DAY;
    await operator().archive('bank', 'cold');
  });
  afterAll(() => close());

  it('the vault\'s roles cannot move a session\'s last-event time back, live or archived; appends still move it forward', async () => {
    const before = await lastAt('cold');
    for (const session of ['live', 'cold']) {
      expect(await refused(app(`UPDATE sessions SET last_at = '2015-01-01T00:00:00Z' WHERE session_id = '${session}'`))).toMatch(/STORAGE_REFUSED.*only moves forward/);
      expect(await refused(app(`UPDATE sessions SET last_at = NULL WHERE session_id = '${session}'`))).toMatch(/only moves forward/);
    }
    expect(await lastAt('cold')).toEqual(before);
    // A retention run does not find the archived session due: nothing to purge for seven years.
    const run = [];
    for await (const i of operator().retentionRun({ tenant: 'bank' })) run.push([i.session, i.action, i.outcome]);
    expect(run).toEqual([['live', 'archive', 'done']]);
    await operator().restore('bank', 'live');
    now += 1000;
    await vault.session('bank', 'live').append({ type: 'task', task: 'later' });
    expect(await lastAt('live')).toBe(new Date(now).toISOString());
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });

  it("the vault's roles cannot move a session's last-event time past the database's clock, or to no time, so that retention never finds it due; an append from a host whose clock runs ahead is refused, typed", async () => {
    const before = await lastAt('live');
    // As the agents' role: a year ahead (the run then skipped the session, silently, for as long as it liked), or infinity
    // (the operator's `sessions` listing then threw a RangeError).
    for (const at of [new Date(Date.now() + 365 * DAY).toISOString(), 'infinity', '-infinity']) {
      // Back to no time is also moving back (0037), whichever rule the database says first.
      const why = at === '-infinity' ? /^STORAGE_REFUSED .*(first- and last-event times|only moves forward)/ : /^CLOCK_AHEAD .*first- and last-event times/;
      expect(await refused(app(`UPDATE sessions SET last_at = '${at}' WHERE session_id = 'live'`))).toMatch(why);
      expect(await refused(app(`UPDATE sessions SET first_at = '${at}' WHERE session_id = 'live'`))).toMatch(why);
    }
    expect(await lastAt('live')).toEqual(before);
    // The vault on a host whose clock runs an hour ahead of the database's: its append is refused, and nothing is stored.
    const head = (await vault.sessions('bank')).find((s) => s.session === 'live')!.events;
    const saved = now;
    now = Date.now() + 3_600_000;
    try {
      await expect(vault.session('bank', 'live').append({ type: 'task', task: 'from the future' })).rejects.toMatchObject({ code: 'CLOCK_AHEAD' });
    } finally {
      now = saved;
    }
    expect((await vault.sessions('bank')).find((s) => s.session === 'live')!.events).toBe(head);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });

  it('a DBA with triggers off moves it back: verify names it, from the chain, live and archived', async () => {
    await asOwner(vault, url, [{ text: `UPDATE sessions SET last_at = '2015-01-01T00:00:00Z' WHERE tenant_id = 'bank'` }]);
    expect(kinds((await vault.verify({ tenant: 'bank' })).problems)).toEqual([
      ['cold', 'last_at_mismatch'],
      ['live', 'last_at_mismatch'],
    ]);
  });

  it("then the operator's own run does not purge the archived session early: it counts from the head's signed time", async () => {
    const run = [];
    for await (const i of operator().retentionRun({ tenant: 'bank' })) run.push([i.session, i.action, i.outcome]);
    expect(run).toEqual([
      ['cold', 'purge', 'failed:RETENTION_NOT_DUE'],
      ['live', 'archive', 'done'],
    ]);
    await expect(operator().purge('bank', 'cold')).rejects.toMatchObject({ code: 'RETENTION_NOT_DUE', message: expect.stringMatching(/must be kept until 2033-03-01T09:00:02/) });
    expect((await vault.sessions('bank')).find((s) => s.session === 'cold')!.status).toBe('archived');
  });

  it('nor does a shred without a legal basis take it for past its retention: it is erasure, counted from the same signed time', async () => {
    for (const session of ['cold', 'live']) {
      await expect(vault.operator({ actor: 'ops' }).shred('bank', session)).rejects.toMatchObject({ code: 'REASON_REQUIRED', message: expect.stringMatching(/is kept until 203\d-/) });
    }
    expect((await vault.sessions('bank')).map((s) => [s.session, s.status])).toEqual([
      ['cold', 'archived'],
      ['live', 'archived'],
    ]);
  });

  it("a DBA who backdates a purge's tombstone, last-event time and all, to hide that it came early: verify counts from the head's signed time", async () => {
    await vault.createTenant('short');
    await operator().setRetention('short', { archiveAfter: '1d', retain: '2d' });
    await vault.session('short', 'x').append({ type: 'message', role: 'user', content: 'x' });
    now += 2 * DAY;
    await operator().archive('short', 'x');
    await operator().purge('short', 'x');
    expect((await vault.verify({ tenant: 'short' })).problems).toEqual([]);
    // Told it was purged a day early, the DBA moves the purge time back a day... and the
    // last-event time and due date back two, so that the tombstone still looks on time.
    const back = (days: number) => `- interval '${days} days'`;
    await asOwner(vault, url, [{ text: `UPDATE tombstones SET purged_at = purged_at ${back(1)}, last_at = last_at ${back(2)}, due_at = due_at ${back(2)} WHERE tenant_id = 'short'` }]);
    expect(kinds((await vault.verify({ tenant: 'short' })).problems)).toEqual([
      ['x', 'purge_unrecorded'],
      ['x', 'purged_early'],
    ]);
  });
});
