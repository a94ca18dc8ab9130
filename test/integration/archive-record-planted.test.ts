import { createHmac, randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeHome, type StoreHome } from '../support/store-home';
import { type Vault } from '../../src/vault';
import { releaseKeyOf, storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { refusal } from '../support/refusal';
import { asOwner } from '../support/owner';
import { rowsOf } from '../../src/store/types';
import { releaseMessage } from '../../src/crypto';
import { forgedArchiveRecord } from '../support/forged-archive';

/**
 * An archive record planted at an active session's head, by performing it as the
 * retention role (the retention job's database credentials, no keyring, no access to the
 * store), without releasing anything. The vault's archive of that session then met the
 * record in the release, which refuses a digest it does not name (SV002), and since a
 * run records and releases a group of small sessions in one transaction, every session
 * of the group stayed hot with it, each `failed:STORAGE_REFUSED` (an unreachable store's
 * code), night after night. Since stop 63 the session whose head has another object's
 * record is refused alone, `ARCHIVE_CORRUPT` (an integrity code), and the others are
 * archived; since 0079 the database stores no record without the proof a holder of the
 * vault's keys makes for it, so the role cannot plant one at all (a record stored before
 * 0079, made here as the owner with triggers off, still meets stop 63's refusal).
 */
afterAll(dropCreatedDatabases);

describe.each(backends())('an archive record planted at a session\'s head, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  let now = Date.parse('2026-03-02T09:00:00Z');
  const clock = () => new Date(now);
  const DAY = 86_400_000;
  const as = (role: string, q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), role);
  const nightly = async () => {
    const run: string[] = [];
    for await (const i of vault.operator({ actor: 'retention-job', reason: 'nightly' }).retentionRun({ tenant: 'bank' })) run.push(`${i.session} ${i.action} ${i.outcome}`);
    return run;
  };

  beforeAll(async () => {
    store = await storeHome(backend, { clock });
    vault = await store.open();
    await vault.createTenant('bank');
    await vault.operator({ actor: 'ops', reason: 'policy' }).setRetention('bank', { archiveAfter: '1d', retain: '7y' });
    for (const id of ['a', 'b', 'c']) await vault.session('bank', id).append({ type: 'message', role: 'user', content: `customer ${id}` });
    now += 3 * DAY;
  });
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('as the retention role: a record of its own, or one with a proof under a key of its own or for another head, is not stored', async () => {
    const job = storeOf(vault).layout.retentionRole;
    const theirs = createHmac('sha256', randomBytes(32)).update(releaseMessage({ tenant: 'bank', session: 'a', headSeq: 1, digest: Buffer.from('dead', 'hex') })).digest('hex');
    const otherHead = Buffer.from(await releaseKeyOf(vault).proof({ tenant: 'bank', session: 'a', headSeq: 2, digest: Buffer.from('dead', 'hex') })).toString('hex');
    for (const proof of [undefined, theirs, otherHead]) expect(await refusal(as(job, forgedArchiveRecord('bank', 'a', '', proof)))).toMatch(/an archive record needs the proof of a holder of the vault's keys/);
    expect(rowsOf(await as(job, `SELECT count(*)::int AS n FROM archives`))).toEqual([{ n: 0 }]);
  });

  it('a record planted before 0079 keeps its own session hot, not the rest of the run\'s group', async () => {
    await asOwner(vault, store.database ?? 'memory://', [{ text: `SET search_path TO ${storeOf(vault).layout.schema}` }, { text: forgedArchiveRecord('bank', 'a') }]);
    expect(await nightly()).toEqual(['a archive failed:ARCHIVE_CORRUPT', 'b archive done', 'c archive done']);
    expect((await vault.sessions('bank')).map((s) => [s.session, s.status])).toEqual([
      ['a', 'active'],
      ['b', 'archived'],
      ['c', 'archived'],
    ]);
    expect((await vault.session('bank', 'a').state()).messages).toEqual([expect.objectContaining({ content: 'customer a' })]);
    expect((await vault.verify({ tenant: 'bank', session: 'b' })).problems).toEqual([]);
    // Archived alone, it is refused the same way, naming why.
    expect(await refusal(vault.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'a'))).toMatch(
      /^ARCHIVE_CORRUPT an archive record of bank\/a at its head \(seq 1\) names another object than the one in the store: written outside the vault/,
    );
    // Once appended to, its head moves past the record, and the run archives it.
    await vault.session('bank', 'a').append({ type: 'message', role: 'assistant', content: 'noted' });
    now += 3 * DAY;
    expect(await nightly()).toEqual(['a archive done']);
    expect((await vault.verify({ tenant: 'bank', session: 'a' })).problems).toEqual([]);
  });
});
