import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asApp, asOwner } from '../support/owner';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault, VerifyProblem } from '../../src/vault';
import { renderReport } from '../../src/cli/commands/verify';
import { accessHash } from '../../src/audit';
import { refusal } from '../support/refusal';
import { recordAccess } from '../../src/vault/access';
import type { VaultDeps } from '../../src/vault/deps';
import { forgeEvent } from '../support/forged-event';
import { holdLeftArchived } from '../support/held-archived';

/**
 * Legal holds against the signed access trail, by performing the attacks: the legal role
 * (its database credentials stolen, no keyring) clears a hold so that the operator role
 * (its credentials stolen too) can shred the held session, or places one to block an
 * erasure; a DBA with triggers off deletes a hold. The database lets the first two
 * through (the legal role is the one that writes holds; the operator and application
 * roles may not: operator-role.test.ts, legal-role.test.ts), so `verify` must name them.
 * The attacks run on the vault's own connection, which acts as the operator role, and
 * act as the legal role for the hold (SET LOCAL ROLE, as the vault's own hold commands).
 */
afterAll(dropCreatedDatabases);

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const kinds = (problems: readonly VerifyProblem[]) => problems.map((p) => [p.session, p.kind]).sort();

describe.each(backends())('legal holds against the access trail on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let home: string;
  let close: () => Promise<void>;
  let now = Date.parse('2026-03-01T09:00:00Z');
  const app = (tenant: string, text: string) => withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(text)));
  const legal = (tenant: string, text: string) => withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(text)), storeOf(vault).layout.legalRole);
  const alice = () => vault.operator({ actor: 'alice', reason: 'litigation 2026-17' });

  beforeAll(async () => {
    ({ vault, url, home, close } = await testVault(backend, { clock: () => new Date(now) }));
    for (const t of ['bank', 'insurer']) {
      await vault.createTenant(t);
      for (const s of ['claim', 'loan', 'spare']) await vault.session(t, s).append({ type: 'message', role: 'user', content: `${t} ${s}` });
    }
  });
  afterAll(() => close());

  it("an operator's holds, set, set again while in force, cleared, cleared when none is in force and set on no session, verify clean", async () => {
    expect(await alice().setHold('bank', 'claim')).toBe(true);
    now += MINUTE;
    expect(await alice().setHold('bank', 'claim')).toBe(false); // in force already: nothing written, recorded all the same
    now += MINUTE;
    expect(await vault.operator({ actor: 'bob', reason: 'matter settled' }).clearHold('bank', 'claim')).toBe(true);
    now += MINUTE;
    expect(await vault.operator({ actor: 'bob', reason: 'matter settled' }).clearHold('bank', 'claim')).toBe(false);
    await expect(alice().setHold('bank', 'no-such-session')).rejects.toMatchObject({ code: 'UNKNOWN_SESSION' });
    now += MINUTE;
    expect(await alice().setHold('bank', 'claim')).toBe(true); // a second hold: the history keeps both
    expect(await alice().setHold('insurer', 'loan')).toBe(true);
    const report = await vault.verify();
    expect(report.problems).toEqual([]);
  });

  it('the legal role clears a hold in the name of a real operator, with a reason used before, and the operator role destroys the key: verify names both', async () => {
    now += MINUTE;
    // What bob stamped on the hold he really cleared, copied onto the one in force.
    // Stamped now, by the vault's clock: bob's clearing when none was in force, two minutes
    // earlier, is near enough in time, but it came before this hold was set.
    const clear = `UPDATE legal_holds SET cleared_at = '${new Date(now).toISOString()}', cleared_by = 'bob', clear_reason = 'matter settled'
                    WHERE session_id = 'claim' AND cleared_at IS NULL`;
    expect(await legal('bank', clear)).toBeDefined();
    expect(await vault.holds('bank')).toEqual([]);
    // With the hold gone the database lets the key go, as for any unheld session, once
    // the session's head is a key_shredded marker (0048), which the role writes itself.
    const erase = `UPDATE sessions SET wrapped_data_key = NULL WHERE session_id = 'claim'`;
    expect(await refusal(app('bank', erase))).toMatch(/only under its key_shredded marker/);
    const marker = await forgeEvent((q) => app('bank', q), 'bank', 'claim', 'shred-marker');
    await app('bank', erase);
    const report = await vault.verify();
    expect(kinds(report.problems)).toEqual([
      ['claim', 'hold_clear_unrecorded'],
      ['claim', 'unsigned_tail'],
    ]);
    expect(renderReport(report).split('\n')).toEqual(expect.arrayContaining(['  bank/claim: hold_clear_unrecorded', `  bank/claim seq ${marker}: unsigned_tail`]));
    // Scoped to the tenant or to the session, the same; another tenant's verify is clean.
    expect(kinds((await vault.verify({ tenant: 'bank', session: 'claim' })).problems)).toContainEqual(['claim', 'hold_clear_unrecorded']);
    expect((await vault.verify({ tenant: 'insurer' })).problems).toEqual([]);
  });

  it('the legal role clears a hold stamped near an earlier real clearing: a record clears one hold, and only one set before it', async () => {
    // A hold cleared by bob, set again by alice, then cleared by the attacker a moment
    // after it was set: a minute from bob's real clearing, whose record cleared the first.
    const o = vault.operator({ actor: 'bob', reason: 'appeal over' });
    now += MINUTE;
    await alice().setHold('insurer', 'claim');
    now += MINUTE;
    await o.clearHold('insurer', 'claim');
    now += MINUTE;
    await alice().setHold('insurer', 'claim');
    expect((await vault.verify({ tenant: 'insurer' })).problems).toEqual([]);
    const stamp = new Date(now + 1).toISOString();
    await legal('insurer', `UPDATE legal_holds SET cleared_at = '${stamp}', cleared_by = 'bob', clear_reason = 'appeal over' WHERE session_id = 'claim' AND cleared_at IS NULL`);
    expect(kinds((await vault.verify({ tenant: 'insurer' })).problems)).toEqual([['claim', 'hold_clear_unrecorded']]);
  });

  it("the legal role clears a hold long after a clearing call stopped between its record and its row, stamped near that record: the database stored the two an hour apart, so the record does not account for it", async () => {
    await vault.session('bank', 'late').append({ type: 'message', role: 'user', content: 'bank late' });
    now += MINUTE;
    await alice().setHold('bank', 'late');
    now += MINUTE;
    // What bob's clearing writes first; then its process stopped, before the row and before any failure record.
    await recordAccess((vault as unknown as { deps: VaultDeps }).deps, { actor: 'bob', action: 'hold.clear', tenant: 'bank', session: 'late', reason: 'appeal over', outcome: 'granted' });
    const [[record]] = (await asOwner(vault, url, [{ text: `SELECT seq, at FROM access_log WHERE session_id = 'late' AND action = 'hold.clear'` }])) as [{ seq: string; at: Date }[]];
    // An hour went by (the database's clock cannot be set: its stamp is moved back as its owner).
    await asOwner(vault, url, [{ text: `UPDATE access_log SET stored_at = stored_at - interval '1 hour' WHERE seq = ${record!.seq}` }]);
    // The thief clears the hold in bob's name and reason, stamped a millisecond after that record.
    const stamp = new Date(new Date(record!.at).getTime() + 1).toISOString();
    await legal('bank', `UPDATE legal_holds SET cleared_at = '${stamp}', cleared_by = 'bob', clear_reason = 'appeal over' WHERE session_id = 'late' AND cleared_at IS NULL`);
    expect(kinds((await vault.verify({ tenant: 'bank', session: 'late' })).problems)).toEqual([['late', 'hold_clear_unrecorded']]);
    await expect(vault.operator({ actor: 'dana', reason: 'erasure request' }).shred('bank', 'late')).rejects.toMatchObject({ code: 'LEGAL_HOLD', message: expect.stringMatching(/lifted outside the vault \(late\)/) });
  });

  it('the legal role places a hold no operator recorded, blocking an erasure: verify names it', async () => {
    await legal('bank', `INSERT INTO legal_holds (tenant_id, session_id, reason, set_by, set_at) VALUES ('bank', 'spare', 'litigation 2026-17', 'alice', '${new Date(now).toISOString()}')`);
    await expect(vault.operator({ actor: 'dana', reason: 'erasure request' }).shred('bank', 'spare')).rejects.toMatchObject({ code: 'LEGAL_HOLD' });
    expect(kinds((await vault.verify({ tenant: 'bank', session: 'spare' })).problems)).toEqual([['spare', 'hold_set_unrecorded']]);
  });

  it('the legal role places a hold stamped a minute after a setting that changed nothing: that record counts for no hold, so verify names it', async () => {
    await vault.createTenant('broker');
    await vault.session('broker', 'file').append({ type: 'message', role: 'user', content: 'broker file' });
    now += MINUTE;
    expect(await alice().setHold('broker', 'file')).toBe(true);
    now += MINUTE;
    expect(await alice().setHold('broker', 'file')).toBe(false); // in force already: recorded, then recorded as unchanged
    now += MINUTE;
    expect(await vault.operator({ actor: 'bob', reason: 'matter settled' }).clearHold('broker', 'file')).toBe(true);
    expect((await vault.verify({ tenant: 'broker' })).problems).toEqual([]);
    const outcomes: string[][] = [];
    for await (const r of vault.accessLog({ tenant: 'broker' })) if (r.action.startsWith('hold.')) outcomes.push([r.actor, r.action, r.outcome]);
    expect(outcomes).toEqual([
      ['alice', 'hold.set', 'granted'],
      ['alice', 'hold.set', 'granted'],
      ['alice', 'hold.set', 'unchanged'],
      ['bob', 'hold.clear', 'granted'],
    ]);
    // In alice's name, with her reason, a minute after her setting that changed nothing.
    await legal('broker', `INSERT INTO legal_holds (tenant_id, session_id, reason, set_by, set_at) VALUES ('broker', 'file', 'litigation 2026-17', 'alice', '${new Date(now).toISOString()}')`);
    expect(kinds((await vault.verify({ tenant: 'broker' })).problems)).toEqual([['file', 'hold_set_unrecorded']]);
  });

  it('a setting that changed nothing, whose unchanged record cannot be written, is reported to the caller as a trail failure', async () => {
    await vault.session('bank', 'memo').append({ type: 'message', role: 'user', content: 'broker memo' });
    now += MINUTE;
    expect(await alice().setHold('bank', 'memo')).toBe(true);
    // The trail refuses the unchanged record alone, as a full disk or a lost connection might after the granted one.
    await asOwner(vault, url, [
      { text: `CREATE FUNCTION refuse_unchanged() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'trail down'; END $$` },
      { text: `CREATE TRIGGER refuse_unchanged BEFORE INSERT ON access_log FOR EACH ROW WHEN (NEW.outcome = 'unchanged') EXECUTE FUNCTION refuse_unchanged()` },
    ]);
    try {
      now += MINUTE;
      await expect(alice().setHold('bank', 'memo')).rejects.toMatchObject({
        code: 'ACCESS_TRAIL_UNAVAILABLE',
        message: 'hold.set changed nothing, but the access trail could not record that, so its granted record stands',
      });
    } finally {
      await asOwner(vault, url, [{ text: 'DROP TRIGGER refuse_unchanged ON access_log' }, { text: 'DROP FUNCTION refuse_unchanged()' }]);
    }
    expect(await vault.holds('bank')).toEqual(expect.arrayContaining([expect.objectContaining({ session: 'memo' })]));
  });

  it('a DBA with triggers off deletes a hold: verify names the trail record the hold is missing for', async () => {
    const trail = [];
    for await (const r of vault.accessLog({ tenant: 'insurer' })) trail.push(r);
    const set = trail.filter((r) => r.action === 'hold.set' && r.session === 'loan');
    expect(set).toHaveLength(1);
    await asOwner(vault, url, [{ text: `DELETE FROM legal_holds WHERE tenant_id = 'insurer' AND session_id = 'loan'` }]);
    const problems = (await vault.verify({ tenant: 'insurer', session: 'loan' })).problems;
    expect(problems).toEqual([{ tenant: 'insurer', session: 'loan', seq: set[0]!.seq, kind: 'hold_missing' }]);
    expect(renderReport({ ok: false, sessions: 1, events: 1, problems })).toContain(`  insurer/loan access record ${set[0]!.seq}: hold_missing`);
  });

  it("a hold lifted outside the vault still stops the operator's own shred, purge and retention run; a forged unsigned clearing record does not count", async () => {
    const ops = vault.operator({ actor: 'ops', reason: 'nightly' });
    await vault.createTenant('lender');
    await ops.setRetention('lender', { archiveAfter: '1d', retain: '2d' });
    for (const s of ['mortgage', 'card', 'overdraft']) await vault.session('lender', s).append({ type: 'message', role: 'user', content: s });
    now += 3 * DAY;
    for await (const i of ops.retentionRun({ tenant: 'lender' })) expect([i.action, i.outcome]).toEqual(['archive', 'done']);
    // Held once archived, where the hold could not bring them back (a session held while hot stays hot: 0074).
    for (const s of ['mortgage', 'card']) await holdLeftArchived(alice(), path.join(home, 'archive'), 'lender', s);
    await vault.operator({ actor: 'bob', reason: 'released' }).clearHold('lender', 'card'); // the vault's own clearing
    now += 3 * DAY;
    // The thief clears the hold on the mortgage file, in bob's name.
    await legal('lender', `UPDATE legal_holds SET cleared_at = '${new Date(now).toISOString()}', cleared_by = 'bob', clear_reason = 'released' WHERE session_id = 'mortgage' AND cleared_at IS NULL`);
    expect(await vault.holds('lender')).toEqual([]);
    await expect(ops.purge('lender', 'mortgage')).rejects.toMatchObject({ code: 'LEGAL_HOLD', message: expect.stringMatching(/lifted outside the vault \(mortgage\)/) });
    // A clearing record the thief inserts, chained but unsigned, does not count.
    const [[last]] = (await asOwner(vault, url, [{ text: 'SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1' }])) as [{ seq: string; hash: Buffer }[]];
    const forged = { seq: Number(last!.seq) + 1, at: new Date(now), actor: 'bob', action: 'hold.clear', tenant: 'lender', session: 'mortgage', reason: 'released', outcome: 'granted', salt: new Uint8Array(randomBytes(16)) };
    const hash = Buffer.from(accessHash(new Uint8Array(last!.hash), forged));
    await asApp(vault, `INSERT INTO access_log (seq, at, actor, action, tenant_id, session_id, reason, outcome, hash, salt) VALUES (${forged.seq}, '${forged.at.toISOString()}', 'bob', 'hold.clear', 'lender', 'mortgage', 'released', 'granted', '\\x${hash.toString('hex')}', '\\x${Buffer.from(forged.salt).toString('hex')}')`);
    const run = [];
    for await (const i of ops.retentionRun({ tenant: 'lender' })) run.push([i.session, i.action, i.outcome]);
    // The run records its group (signed, chained after the forged record) and purges what is due: not the mortgage file.
    expect(run).toEqual([
      ['card', 'purge', 'done'],
      ['mortgage', 'purge', 'failed:LEGAL_HOLD'],
      ['overdraft', 'purge', 'done'],
    ]);
    // Nor does an erasure shred it, alone or with its tenant.
    const erasure = vault.operator({ actor: 'dana', reason: 'erasure request' });
    await expect(erasure.shred('lender', 'mortgage')).rejects.toMatchObject({ code: 'LEGAL_HOLD', message: expect.stringMatching(/lifted outside the vault \(mortgage\)/) });
    await expect(erasure.shred('lender')).rejects.toMatchObject({ code: 'LEGAL_HOLD' });
    // Refused, they leave the archived session archived.
    expect((await vault.sessions('lender')).find((s) => s.session === 'mortgage')!.status).toBe('archived');
    // Once resolved, an operator lifts it through the vault: a hold set and cleared, recorded.
    await alice().setHold('lender', 'mortgage');
    await vault.operator({ actor: 'bob', reason: 'investigated: released' }).clearHold('lender', 'mortgage');
    expect(await erasure.shred('lender', 'mortgage')).toMatchObject({ sessions: 1 });
    // verify names both: the clearing with no record, and the record no trusted key signed.
    expect(kinds((await vault.verify({ tenant: 'lender' })).problems)).toEqual([
      ['(access trail)', 'access_unsigned'],
      ['mortgage', 'hold_clear_unrecorded'],
    ]);
  });
});
