import { renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { runRetention, storeHome, type StoreHome } from '../support/store-home';
import { type Vault } from '../../src/vault';
import { releaseKeyOf, storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { refusal } from '../support/refusal';
import { forgedArchiveRecord } from '../support/forged-archive';

/**
 * A held session's events against the retention role, by performing the attack. The
 * release function deletes a session's events once an archive record names it at its
 * head; the database cannot see the archive store, so it takes the record's word that an
 * object exists. With the retention job's database credentials (no keyring, no access to
 * the store), a thief inserted such a record for a session under legal hold, with a
 * digest of their own and no object behind it, and released the session: its events were
 * deleted, and with them the evidence the hold kept. Since 0074 a held session's events
 * stay in the database until its hold is cleared, and the vault does not archive one.
 *
 * A session archived before its hold was set had its events only in the archive store,
 * which whoever may delete from it could delete (past its Object Lock, or with no lock):
 * since stop 63 the hold brings such a session back to the database, or, where the store
 * could not be reached then, the next retention run does.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())("a held session's events stay in the database, on $name", (backend) => {
  let store: StoreHome;
  let vault: Vault;
  let now = Date.parse('2026-03-02T09:00:00Z');
  const clock = () => new Date(now);
  const DAY = 86_400_000;
  const as = (role: string, q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), role);
  const hotEvents = async (id: string) =>
    Number(rowsOf<{ n: string }>(await as(storeOf(vault).layout.operatorRole, `SELECT count(*) AS n FROM events WHERE session_id = '${id}'`))[0]!.n);
  // What the vault's archive records, with a digest of the thief's own and no object behind it; then the release. Since 0078
  // and 0079 the record and the release each ask for the proof a holder of the vault's keys makes for that head and digest:
  // made here with the vault's release key (a thief holding the keyring too), or none (the record is then refused).
  const forgedRelease = async (id: string, proof: 'keyring holder' | 'none') => {
    const job = storeOf(vault).layout.retentionRole;
    const [{ head }] = rowsOf<{ head: string }>(await as(job, `SELECT head_seq AS head FROM sessions WHERE session_id = '${id}'`)) as [{ head: string }];
    const made = proof === 'none' ? new Uint8Array(32) : await releaseKeyOf(vault).proof({ tenant: 'bank', session: id, headSeq: Number(head), digest: Buffer.from('dead', 'hex') });
    const hex = Buffer.from(made).toString('hex');
    if (proof === 'none') expect(await refusal(as(job, forgedArchiveRecord('bank', id)))).toMatch(/an archive record needs the proof of a holder of the vault's keys/);
    else await as(job, forgedArchiveRecord('bank', id, 'ON CONFLICT DO NOTHING', hex));
    return `SELECT session_vault_release_archived('bank', '${id}', ${head}, '\\xdead'::bytea, '\\x${hex}'::bytea) AS released`;
  };

  beforeAll(async () => {
    store = await storeHome(backend, { clock });
    vault = await store.open();
    await vault.createTenant('bank');
    await vault.operator({ actor: 'ops', reason: 'policy' }).setRetention('bank', { archiveAfter: '1d', retain: '7y', mode: 'compliance' });
    for (const id of ['evidence', 'kept', 'plain']) {
      await vault.session('bank', id).append({ type: 'message', role: 'user', content: `please move the money (${id})` });
      await vault.session('bank', id).append({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amount: 9000 } });
    }
    for (const id of ['evidence', 'kept']) await vault.operator({ actor: 'legal', reason: 'case 7: complaint about a transfer' }).setHold('bank', id);
    now += 3 * DAY;
  });
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('as the retention role: an archive record with no object behind it does not release a held session', async () => {
    const { retentionRole } = storeOf(vault).layout;
    expect(await refusal(as(retentionRole, await forgedRelease('evidence', 'none')))).toMatch(/no release proof/);
    // Nor with the proof of a holder of the vault's keys (0074: the hold keeps it whoever releases).
    expect(rowsOf(await as(retentionRole, await forgedRelease('evidence', 'keyring holder')))).toEqual([{ released: false }]);
    expect(await hotEvents('evidence')).toBe(2);
    expect((await vault.sessionInfo('bank', 'evidence')).status).toBe('active');
    const state = await vault.operator({ actor: 'legal', reason: 'case 7' }).state('bank', 'evidence');
    expect(state.messages).toEqual([expect.objectContaining({ content: 'please move the money (evidence)' })]);
    // A session no hold keeps is released only with that proof (release-proof.test.ts: the retention role alone cannot make
    // one); a holder of the vault's keys can release it on a record of their own (verify names the archive that is not there).
    expect(await refusal(as(retentionRole, await forgedRelease('plain', 'none')))).toMatch(/no release proof/);
    expect(await hotEvents('plain')).toBe(2);
    expect(rowsOf(await as(retentionRole, await forgedRelease('plain', 'keyring holder')))).toEqual([{ released: true }]);
    expect(await hotEvents('plain')).toBe(0);
    expect((await vault.verify({ tenant: 'bank', session: 'plain' })).problems).toEqual([expect.objectContaining({ session: 'plain', kind: 'archive_missing' })]);
  });

  it("the vault's own archive leaves a held session hot: the run skips it, and `archive` is refused", async () => {
    const run: string[][] = [];
    for await (const i of vault.operator({ actor: 'retention-job', reason: 'nightly' }).retentionRun({ tenant: 'bank', dryRun: true })) run.push([i.session, i.action]);
    expect(run).toEqual([]);
    expect(await refusal(vault.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'kept'))).toMatch(/^LEGAL_HOLD session bank\/kept is under legal hold; its events stay in the database/);
    expect(await hotEvents('kept')).toBe(2);
    // Once its hold is cleared, it is archived as any other.
    await vault.operator({ actor: 'legal', reason: 'case 7: not this one' }).clearHold('bank', 'kept');
    for await (const i of vault.operator({ actor: 'retention-job', reason: 'nightly' }).retentionRun({ tenant: 'bank' })) run.push([i.session, i.action, i.outcome]);
    expect(run).toEqual([['kept', 'archive', 'done']]);
    expect(await hotEvents('kept')).toBe(0);
    expect((await vault.verify({ tenant: 'bank', session: 'kept' })).problems).toEqual([]);
  });

  const trailOf = async (id: string) => {
    const out: string[][] = [];
    for await (const r of vault.accessLog({ tenant: 'bank' })) if (r.session === id) out.push([r.action, r.actor, r.outcome]);
    return out;
  };
  const unreachableStore = { archive: 's3://archive/x', s3: { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } } };

  it('a session archived before its hold is restored when the hold is set, and stays hot while held', async () => {
    const { retentionRole } = storeOf(vault).layout;
    await vault.session('bank', 'late').append({ type: 'message', role: 'user', content: 'an old complaint' });
    now += 3 * DAY;
    await vault.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'late');
    expect(await hotEvents('late')).toBe(0); // its events are the archive store's to keep
    expect(await vault.operator({ actor: 'legal', reason: 'case 9' }).setHold('bank', 'late')).toBe(true);
    expect(await hotEvents('late')).toBe(1);
    expect((await vault.sessionInfo('bank', 'late')).status).toBe('active');
    expect(await trailOf('late')).toEqual([
      ['retention.archive', 'ops', 'granted'],
      ['hold.set', 'legal', 'granted'],
      ['retention.restore', 'legal', 'granted'],
    ]);
    expect(await vault.operator({ actor: 'ops', reason: 'case 9: evidence under the hold' }).restore('bank', 'late')).toBe(false);
    now += 3 * DAY;
    const run: string[][] = [];
    for await (const i of vault.operator({ actor: 'retention-job', reason: 'nightly' }).retentionRun({ tenant: 'bank', dryRun: true })) run.push([i.session, i.action]);
    expect(run.filter(([s]) => s === 'late')).toEqual([]);
    // Nor does the release its own archive record names, which would leave the events to the store again.
    const [record] = rowsOf<{ head_seq: string; digest: Uint8Array }>(await as(retentionRole, `SELECT head_seq, digest FROM archives WHERE session_id = 'late'`));
    const proof = await releaseKeyOf(vault).proof({ tenant: 'bank', session: 'late', headSeq: Number(record!.head_seq), digest: new Uint8Array(record!.digest) });
    const release = `SELECT session_vault_release_archived('bank', 'late', head_seq, digest, '\\x${Buffer.from(proof).toString('hex')}'::bytea) AS released FROM archives WHERE session_id = 'late'`;
    expect(rowsOf(await as(retentionRole, release))).toEqual([{ released: false }]);
    expect(await hotEvents('late')).toBe(1);
  });

  it('a hold set where the archive store cannot be reached stands; the nightly run, as the retention role, restores the session; deleting its archive object then loses nothing', async () => {
    const { retentionRole } = storeOf(vault).layout;
    await vault.session('bank', 'older').append({ type: 'message', role: 'user', content: 'an older complaint' });
    await vault.session('bank', 'older').append({ type: 'tool_call', callId: 'c2', tool: 'transfer', input: { amount: 12000 } });
    now += 3 * DAY;
    await vault.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'older');
    await vault.close();
    // The legal desk's host reaches the database but not the archive store.
    expect(await store.withVault((desk) => desk.operator({ actor: 'legal', reason: 'case 11' }).setHold('bank', 'older'), unreachableStore)).toBe(true);
    const nightly = async (dryRun: boolean) => (await runRetention(store, { tenant: 'bank', dryRun }, { appRole: retentionRole })).filter(([s]) => s === 'older');
    expect(await nightly(true)).toEqual([['older', 'restore', 'planned']]);
    expect(await nightly(false)).toEqual([['older', 'restore', 'done']]);
    expect(await nightly(false)).toEqual([]); // held and hot: nothing more to do
    vault = await store.open();
    expect((await vault.holds('bank')).map((h) => h.session)).toContain('older');
    expect(await hotEvents('older')).toBe(2);
    // Whoever may delete from the archive store deletes its object: the held evidence is still in the database.
    rmSync(path.join(store.home, 'archive', 'bank', 'older', '2.svarc.gz'));
    const state = await vault.operator({ actor: 'legal', reason: 'case 11' }).state('bank', 'older');
    expect(state.messages).toEqual([expect.objectContaining({ content: 'an older complaint' })]);
    expect((await vault.verify({ tenant: 'bank', session: 'older' })).problems).toEqual([]);
    expect(await trailOf('older')).toEqual([
      ['retention.archive', 'ops', 'granted'],
      ['hold.set', 'legal', 'granted'],
      ['retention.restore', 'legal', 'granted'],
      ['retention.restore', 'legal', 'failed:STORAGE_UNAVAILABLE'],
      ['retention.restore', 'retention-job', 'granted'],
      ['replay', 'legal', 'granted'],
    ]);
  });

  it('a held session whose archive object is already gone is reported by every run (`failed:ARCHIVE_MISSING`), and stays archived', async () => {
    await vault.session('bank', 'gone').append({ type: 'message', role: 'user', content: 'a complaint no one kept' });
    now += 3 * DAY;
    await vault.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'gone');
    const object = path.join(store.home, 'archive', 'bank', 'gone', '1.svarc.gz');
    renameSync(object, `${object}.kept-elsewhere`);
    expect(await vault.operator({ actor: 'legal', reason: 'case 12' }).setHold('bank', 'gone')).toBe(true);
    for (let i = 0; i < 2; i++) {
      const run: string[][] = [];
      for await (const r of vault.operator({ actor: 'retention-job', reason: 'nightly' }).retentionRun({ tenant: 'bank' })) run.push([r.session, r.action, r.outcome]);
      expect(run).toEqual([['gone', 'restore', 'failed:ARCHIVE_MISSING']]);
    }
    expect((await vault.sessionInfo('bank', 'gone')).status).toBe('archived');
    expect((await trailOf('gone')).filter(([a]) => a === 'retention.restore').map(([, who, outcome]) => `${who} ${outcome}`)).toEqual([
      'legal granted',
      'legal failed:ARCHIVE_MISSING',
      'retention-job granted',
      'retention-job failed:ARCHIVE_MISSING',
      'retention-job granted',
      'retention-job failed:ARCHIVE_MISSING',
    ]);
    // The object put back (from the store's versions, a copy): placing the hold again, which changes no hold, restores it.
    renameSync(`${object}.kept-elsewhere`, object);
    expect(await vault.operator({ actor: 'legal', reason: 'case 12: object recovered' }).setHold('bank', 'gone')).toBe(false);
    expect((await vault.sessionInfo('bank', 'gone')).status).toBe('active');
    expect(await hotEvents('gone')).toBe(1);
  });
});
