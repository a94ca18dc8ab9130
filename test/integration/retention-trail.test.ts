import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asApp, asOwner } from '../support/owner';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault, VerifyProblem } from '../../src/vault';
import { accessHash } from '../../src/audit';
import { renderReport } from '../../src/cli/commands/verify';

/**
 * Retention policies and floors against the signed access trail, by performing the
 * attacks. In governance mode the database lets the operator role lower sessions'
 * retention floors (the operator's `--override-floors` must), and that role writes the
 * policy row. A thief with its credentials shortens both, so that the operator's own
 * retention run purges customers' sessions years early, recorded and tombstoned as due;
 * or moves a session's creation time into a period whose policy was shorter. The trail
 * records every policy change with its values, signed, and the vault holds the tables to it.
 */
afterAll(dropCreatedDatabases);

const DAY = 86_400_000;
const kinds = (problems: readonly VerifyProblem[]) => problems.map((p) => [p.session, p.kind]).sort();
const refused = (p: Promise<unknown>) => p.then(() => 'accepted', (e: Error & { cause?: Error }) => `${(e as { code?: string }).code ?? ''} ${e.message} ${e.cause?.message ?? ''}`);

describe.each(backends())('retention policies and floors against the access trail on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  let now = Date.parse('2026-03-01T09:00:00Z');
  const app = (tenant: string, text: string) => withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(text)));
  const ops = () => vault.operator({ actor: 'ops', reason: 'nightly' });
  const run = async (tenant: string) => {
    const out = [];
    for await (const i of ops().retentionRun({ tenant })) out.push([i.session, i.action, i.outcome]);
    return out;
  };
  const status = async (tenant: string) => Object.fromEntries((await vault.sessions(tenant)).map((s) => [s.session, s.status]));

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend, { clock: () => new Date(now) }));
    for (const t of ['bank', 'lender']) {
      await vault.createTenant(t);
      await ops().setRetention(t, { archiveAfter: '1d', retain: '7y' });
      for (const s of ['mortgage', 'card']) await vault.session(t, s).append({ type: 'message', role: 'user', content: `${t} ${s}` });
    }
    now += 2 * DAY;
    expect(await run('bank')).toEqual([
      ['card', 'archive', 'done'],
      ['mortgage', 'archive', 'done'],
    ]);
  });
  afterAll(() => close());

  it('the vault records each policy change with its values, the default a tenant is created with included; its own history verifies clean', async () => {
    const trail = [];
    for await (const r of vault.accessLog({ tenant: 'bank' })) trail.push(r);
    expect(trail.filter((r) => r.action.startsWith('retention.set')).map((r) => [r.actor, r.action, r.reason])).toEqual([
      ['(default)', 'retention.set:30d/7y', 'tenant created'],
      ['ops', 'retention.set:1d/7y', 'nightly'],
    ]);
    // Creating a tenant that exists records the attempt as failed; nothing else changes.
    await expect(vault.createTenant('bank')).rejects.toMatchObject({ code: 'TENANT_EXISTS' });
    const last = [];
    for await (const r of vault.accessLog({ tenant: 'bank' })) last.push([r.actor, r.action, r.outcome]);
    expect(last.slice(-2)).toEqual([
      ['(default)', 'retention.set:30d/7y', 'granted'],
      ['(default)', 'retention.set:30d/7y', 'failed:TENANT_EXISTS'],
    ]);
    expect((await vault.verify()).problems).toEqual([]);
  });

  it("the operator role shortens the policy and lowers the floors: the operator's own run and purge keep the sessions, verify names both", async () => {
    await app('bank', `UPDATE retention_policies SET retain = '2d', archive_after = '1d' WHERE tenant_id = 'bank'`);
    await app('bank', `UPDATE sessions SET retain_floor = '2d' WHERE tenant_id = 'bank'`);
    now += 3 * DAY;
    expect(await run('bank')).toEqual([
      ['card', 'purge', 'failed:RETENTION_NOT_DUE'],
      ['mortgage', 'purge', 'failed:RETENTION_NOT_DUE'],
    ]);
    await expect(ops().purge('bank', 'card')).rejects.toMatchObject({ code: 'RETENTION_NOT_DUE', message: expect.stringMatching(/must be kept until 2033-03-01T09.*retain=7y/) });
    // Erasing within the promised retention still needs its legal basis; refused, the
    // archived session is not brought back to hot storage either.
    await expect(vault.operator({ actor: 'dana' }).shred('bank', 'card')).rejects.toMatchObject({ code: 'REASON_REQUIRED' });
    await expect(vault.operator({ actor: 'dana' }).shred('bank')).rejects.toMatchObject({ code: 'REASON_REQUIRED' });
    expect(await status('bank')).toEqual({ card: 'archived', mortgage: 'archived' });
    expect(kinds((await vault.verify({ tenant: 'bank' })).problems)).toEqual([
      ['(retention policy)', 'policy_unrecorded'],
      ['card', 'floor_unrecorded'],
      ['mortgage', 'floor_unrecorded'],
    ]);
    const report = await vault.verify({ tenant: 'bank' });
    const policy = report.problems.find((p) => p.kind === 'policy_unrecorded')!;
    expect(renderReport(report)).toContain(`  bank/(retention policy) access record ${policy.seq}: policy_unrecorded`);
    // One session's verify names its own floor and the policy it is kept under.
    expect(kinds((await vault.verify({ tenant: 'bank', session: 'card' })).problems)).toEqual([
      ['(retention policy)', 'policy_unrecorded'],
      ['card', 'floor_unrecorded'],
    ]);
  });

  it('the operator role raises a floor to keep a customer\'s session past its retention: verify names it', async () => {
    await app('lender', `UPDATE sessions SET retain_floor = '99y' WHERE session_id = 'mortgage'`);
    expect(kinds((await vault.verify({ tenant: 'lender' })).problems)).toEqual([['mortgage', 'floor_unrecorded']]);
    await asOwner(vault, url, [{ text: `UPDATE sessions SET retain_floor = '7y' WHERE tenant_id = 'lender' AND session_id = 'mortgage'` }]);
    expect((await vault.verify({ tenant: 'lender' })).problems).toEqual([]);
  });

  it('the operator role lowers a floor that archiving raised back to what the session was created with: the run keeps it, verify names it', async () => {
    await vault.createTenant('broker');
    await ops().setRetention('broker', { archiveAfter: '1d', retain: '30d' });
    await vault.session('broker', 'policy').append({ type: 'message', role: 'user', content: 'a customer under the old policy' });
    now += DAY;
    await ops().setRetention('broker', { archiveAfter: '1d', retain: '7y' }); // new sessions only: this one keeps 30d...
    now += 2 * DAY;
    expect(await run('broker')).toEqual([['policy', 'archive', 'done']]); // ...until archived, under 7y
    now += DAY;
    await ops().setRetention('broker', { archiveAfter: '1d', retain: '30d' }); // back to 30d, for new sessions
    expect((await vault.verify({ tenant: 'broker' })).problems).toEqual([]);
    await app('broker', `UPDATE sessions SET retain_floor = '30d' WHERE session_id = 'policy'`);
    now += 40 * DAY;
    expect(await run('broker')).toEqual([['policy', 'purge', 'failed:RETENTION_NOT_DUE']]);
    await expect(vault.operator({ actor: 'dana' }).shred('broker', 'policy')).rejects.toMatchObject({ code: 'REASON_REQUIRED' });
    expect(kinds((await vault.verify({ tenant: 'broker' })).problems)).toEqual([['policy', 'floor_unrecorded']]);
  });

  it("the operator role cannot move a session's creation time; a DBA who deletes the policy row is named", async () => {
    expect(await refused(app('lender', `UPDATE sessions SET created_at = '2015-01-01T00:00:00Z' WHERE session_id = 'card'`))).toMatch(/STORAGE_REFUSED.*creation time never changes/);
    expect((await vault.verify({ tenant: 'lender' })).problems).toEqual([]);
    await asOwner(vault, url, [{ text: `DELETE FROM retention_policies WHERE tenant_id = 'lender'` }]);
    expect(kinds((await vault.verify({ tenant: 'lender' })).problems)).toEqual([['(retention policy)', 'policy_unrecorded']]);
  });

  it("an operator's recorded override lowers floors for real: verify is clean of it and the run purges what it made due", async () => {
    await vault.createTenant('insurer');
    await ops().setRetention('insurer', { archiveAfter: '1d', retain: '7y' });
    for (const s of ['claim', 'quote']) await vault.session('insurer', s).append({ type: 'message', role: 'user', content: s });
    now += 2 * DAY;
    await run('insurer');
    await vault.operator({ actor: 'ops', reason: 'board decision 2026-4' }).setRetention('insurer', { archiveAfter: '1d', retain: '2d', overrideFloors: true });
    now += DAY;
    expect(await run('insurer')).toEqual([
      ['claim', 'purge', 'done'],
      ['quote', 'purge', 'done'],
    ]);
    expect((await vault.verify({ tenant: 'insurer' })).problems).toEqual([]);
    // A later override that raises floors again leaves the purged sessions' floors as they
    // were (final), and verify does not hold them to it.
    now += DAY;
    await vault.operator({ actor: 'ops', reason: 'board decision 2026-9' }).setRetention('insurer', { archiveAfter: '1d', retain: '7y', overrideFloors: true });
    expect((await vault.verify({ tenant: 'insurer' })).problems).toEqual([]);
  });

  it('nor does a forged override record count: chained, in an operator\'s name, but unsigned', async () => {
    const [[last]] = (await asOwner(vault, url, [{ text: 'SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1' }])) as [{ seq: string; hash: Buffer }[]];
    const forged = { seq: Number(last!.seq) + 1, at: new Date(now), actor: 'ops', action: 'retention.override:1d/2d', tenant: 'bank', session: null, reason: 'nightly', outcome: 'granted', salt: new Uint8Array(randomBytes(16)) };
    const hash = Buffer.from(accessHash(new Uint8Array(last!.hash), forged));
    await asApp(vault, `INSERT INTO access_log (seq, at, actor, action, tenant_id, session_id, reason, outcome, hash, salt) VALUES (${forged.seq}, '${forged.at.toISOString()}', 'ops', '${forged.action}', 'bank', NULL, 'nightly', 'granted', '\\x${hash.toString('hex')}', '\\x${Buffer.from(forged.salt).toString('hex')}')`);
    await app('bank', `UPDATE retention_policies SET set_at = '${forged.at.toISOString()}', set_by = 'ops' WHERE tenant_id = 'bank'`);
    await expect(ops().purge('bank', 'mortgage')).rejects.toMatchObject({ code: 'RETENTION_NOT_DUE' });
    expect(kinds((await vault.verify({ tenant: 'bank' })).problems)).toEqual([
      ['(access trail)', 'access_unsigned'],
      ['(retention policy)', 'policy_unrecorded'],
      ['card', 'floor_unrecorded'],
      ['mortgage', 'floor_unrecorded'],
    ]);
  });
});
