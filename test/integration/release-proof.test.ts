import { createHmac, randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { backends, dropCreatedDatabases } from '../support/backends';
import { runRetention, storeHome, type StoreHome } from '../support/store-home';
import { asOwner } from '../support/owner';
import { forgedArchiveRecord } from '../support/forged-archive';
import { type Vault } from '../../src/vault';
import { releaseKeyOf, storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { releaseMessage } from '../../src/crypto';
import { refusal } from '../support/refusal';

/**
 * The release of a session's events against the retention role, by performing the attack
 * (the retention job's stolen database credentials: no keyring, no access to the archive
 * store). The release function deleted an active session's events once an archive record
 * named it at its head; the role may insert archive records, so a record with a digest of
 * the thief's own and one call deleted every event of any session with no legal hold,
 * with no object anywhere. Since 0078 the release also asks for an HMAC, under the vault's
 * release key (wrapped by its master key), of tenant, session, head and digest.
 */
afterAll(dropCreatedDatabases);

const NO_PROOF = /no release proof for this session, head and digest/;

describe.each(backends())('a release needs the proof of a holder of the keys, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  let now = Date.parse('2026-03-02T09:00:00Z');
  const clock = () => new Date(now);
  const as = (role: string, q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), role);
  const job = () => storeOf(vault).layout.retentionRole;
  const hotEvents = async (id: string) => Number(rowsOf<{ n: string }>(await as(job(), `SELECT count(*) AS n FROM events WHERE session_id = '${id}'`))[0]!.n);
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const release = (id: string, head: number, digest: string, proof: Uint8Array) =>
    as(job(), `SELECT session_vault_release_archived('bank', '${id}', ${head}, '\\x${digest}'::bytea, '\\x${hex(proof)}'::bytea) AS released`);

  beforeAll(async () => {
    store = await storeHome(backend, { clock });
    vault = await store.open();
    await vault.createTenant('bank');
    for (const id of ['claim', 'quiet', 'other']) {
      await vault.session('bank', id).append({ type: 'message', role: 'user', content: `move the money (${id})` });
      await vault.session('bank', id).append({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amount: 9000 } });
    }
    now += 40 * 86_400_000;
    await vault.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'quiet'); // the vault's own archive: its key registered
  });
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('as the retention role: an archive record of its own and the release function delete nothing', async () => {
    // The record alone is refused (0079: archive-record-planted.test.ts); one planted before 0079 (here as the owner, triggers off) stands.
    expect(await refusal(as(job(), forgedArchiveRecord('bank', 'claim')))).toMatch(/an archive record needs the proof/);
    await asOwner(vault, store.database ?? 'memory://', [{ text: `SET search_path TO ${storeOf(vault).layout.schema}` }, { text: forgedArchiveRecord('bank', 'claim') }]);
    const claim = { tenant: 'bank', session: 'claim', headSeq: 2, digest: Buffer.from('dead', 'hex') };
    // No proof, a proof under a key of the thief's own, a proof the vault made for another session or digest: all refused.
    expect(await refusal(release('claim', 2, 'dead', new Uint8Array(32)))).toMatch(NO_PROOF);
    expect(await refusal(release('claim', 2, 'dead', createHmac('sha256', randomBytes(32)).update(releaseMessage(claim)).digest()))).toMatch(NO_PROOF);
    expect(await refusal(release('claim', 2, 'dead', await releaseKeyOf(vault).proof({ ...claim, session: 'other' })))).toMatch(NO_PROOF);
    expect(await refusal(release('claim', 2, 'dead', await releaseKeyOf(vault).proof({ ...claim, digest: Buffer.from('beef', 'hex') })))).toMatch(NO_PROOF);
    // The release without a proof, as an earlier version called it, is gone.
    expect(await refusal(as(job(), `SELECT session_vault_release_archived('bank', 'claim', 2, '\\xdead'::bytea)`))).toMatch(/does not exist/);
    expect(await hotEvents('claim')).toBe(2);
    expect((await vault.sessionInfo('bank', 'claim')).status).toBe('active');
    const state = await vault.operator({ actor: 'ops', reason: 'check' }).state('bank', 'claim');
    expect(state.messages).toEqual([expect.objectContaining({ content: 'move the money (claim)' })]);
  });

  it("the key's pads are the owner's alone; its registration is once, and the owner's alone", async () => {
    const { retentionRole, operatorRole, appRole } = storeOf(vault).layout;
    for (const role of [retentionRole, operatorRole, appRole]) {
      expect(await refusal(as(role, 'SELECT inner_pad, outer_pad FROM release_key_secret'))).toMatch(/permission denied/);
      expect(await refusal(as(role, `SELECT session_vault_release_proof_holds('bank', 'claim', 2, '\\xdead', '\\x00')`))).toMatch(/permission denied/);
    }
    const mine = randomBytes(32);
    const register = `SELECT session_vault_register_release_key('local:1', '\\x00', '\\x${hex(Buffer.alloc(64, 0x36).map((b, i) => b ^ (mine[i] ?? 0)))}', '\\x${hex(Buffer.alloc(64, 0x5c).map((b, i) => b ^ (mine[i] ?? 0)))}') AS registered`;
    // No role of the vault's may register one (0080: the operator role could, where none was: the next test).
    for (const role of [retentionRole, operatorRole, appRole]) expect(await refusal(as(role, register))).toMatch(/permission denied/);
    // The owner's registration where one is changes nothing.
    const [again] = await asOwner(vault, store.database ?? 'memory://', [{ text: register }], { triggers: 'on' });
    expect(again).toEqual([{ registered: false }]);
    const claim = { tenant: 'bank', session: 'claim', headSeq: 2, digest: Buffer.from('dead', 'hex') };
    expect(await refusal(release('claim', 2, 'dead', createHmac('sha256', mine).update(releaseMessage(claim)).digest()))).toMatch(NO_PROOF);
    // A wrap replaced with the retention role's credentials: refused (the column is the operator's, for master rotations).
    expect(await refusal(as(retentionRole, `UPDATE release_key_wraps SET wrapped = '\\x00'`))).toMatch(/permission denied/);
    expect(await hotEvents('claim')).toBe(2);
  });

  it('the proof the vault makes is the one the database checks, whatever the tenant, session, head and digest', async () => {
    const url = store.database ?? 'memory://';
    const ids = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' });
    await fc.assert(
      fc.asyncProperty(ids, ids, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(255), async (tenant, session, headSeq, digest, flip) => {
        const subject = { tenant, session, headSeq, digest };
        const proof = await releaseKeyOf(vault).proof(subject);
        const other = Uint8Array.from(proof);
        other[flip % other.length]! ^= 1 << flip % 8;
        const check = 'SELECT session_vault_release_proof_holds($1, $2, $3, $4, $5) AS holds';
        const [good, bad] = await asOwner(vault, url, [
          { text: check, values: [tenant, session, headSeq, Buffer.from(digest), Buffer.from(proof)] },
          { text: check, values: [tenant, session, headSeq, Buffer.from(digest), Buffer.from(other)] },
        ], { triggers: 'on' });
        expect([good, bad]).toEqual([[{ holds: true }], [{ holds: false }]]);
      }),
      { numRuns: 40 },
    );
  });

  it("the vault's own retention run, acting as the retention role, archives with the key init registered; with none registered it may not register one", async () => {
    const { retentionRole } = storeOf(vault).layout;
    await vault.close();
    let runs: string[][] = [];
    try {
      runs = await runRetention(store, { tenant: 'bank' }, { appRole: retentionRole });
    } finally {
      vault = await store.open();
    }
    expect(runs).toEqual([
      ['claim', 'archive', 'failed:ARCHIVE_CORRUPT'], // the record planted before 0079 names no object the vault wrote
      ['other', 'archive', 'done'],
    ]);
    expect((await vault.verify({ tenant: 'bank', session: 'other' })).problems).toEqual([]);

    // A vault whose key no owner has registered yet: the retention role may not register it, and releases nothing.
    const fresh = await storeHome(backend, { clock });
    try {
      await fresh.withVault(async (v) => {
        await v.createTenant('bank');
        await v.session('bank', 'late').append({ type: 'message', role: 'user', content: 'a late claim' });
      });
      now += 40 * 86_400_000;
      await expect(fresh.withVault((v) => v.operator({ actor: 'retention-job', reason: 'nightly' }).archive('bank', 'late'), { appRole: retentionRole })).rejects.toMatchObject({
        code: 'PERMISSION_DENIED',
        message: expect.stringMatching(/registering the release key: insufficient privilege .* no process has registered one yet: run `session-vault init`/),
      });
      expect(await fresh.withVault((v) => v.sessionInfo('bank', 'late'))).toMatchObject({ status: 'active', events: 1 });
      // Once a process acting as its login, the owner (`init`), registered it, the retention role archives.
      await fresh.withVault((v) => releaseKeyOf(v).ensure());
      expect(await fresh.withVault((v) => v.operator({ actor: 'retention-job', reason: 'nightly' }).archive('bank', 'late'), { appRole: retentionRole })).toMatchObject({ outcome: 'archived' });
    } finally {
      fresh.cleanup();
    }
  });

  it("a vault with no release key yet: the operator role's credentials may not register one of their own, and so release nothing", async () => {
    // The operator role (the operators' stolen database credentials: no keyring, no
    // access to the archive store) on a vault none of whose processes has archived yet,
    // as one upgraded to 0078 by a migrating process that is not `init`: it registered a
    // key of its own, planted a record with its own proof and released the session.
    const fresh = await storeHome(backend, { clock });
    try {
      await fresh.withVault(async (v) => {
        await v.createTenant('bank');
        await v.session('bank', 'late').append({ type: 'message', role: 'user', content: 'a late claim' });
        await v.session('bank', 'late').append({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amount: 9000 } });
      });
      const mine = randomBytes(32);
      const pad = (fill: number) => hex(Buffer.alloc(64, fill).map((b, i) => b ^ (mine[i] ?? 0)));
      const late = { tenant: 'bank', session: 'late', headSeq: 2, digest: Buffer.from('dead', 'hex') };
      const proof = hex(createHmac('sha256', mine).update(releaseMessage(late)).digest());
      const outcome = await fresh.withVault(async (v) => {
        const { operatorRole, schema } = storeOf(v).layout;
        const op = (q: string) => withTenant(storeOf(v).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), operatorRole);
        const register = await refusal(op(`SELECT session_vault_register_release_key('local:1', '\\x00', '\\x${pad(0x36)}', '\\x${pad(0x5c)}') AS registered`));
        const record = await refusal(op(forgedArchiveRecord('bank', 'late', '', proof)));
        const released = await refusal(op(`SELECT session_vault_release_archived('bank', 'late', 2, '\\xdead'::bytea, '\\x${proof}'::bytea) AS released`));
        const [wraps] = await asOwner(v, fresh.database ?? 'memory://', [{ text: `SELECT count(*)::int AS n FROM ${schema}.release_key_wraps` }], { triggers: 'on' });
        return { register, record, released, wraps };
      });
      expect(outcome).toEqual({
        register: expect.stringMatching(/permission denied for function session_vault_register_release_key/),
        record: expect.stringMatching(/an archive record needs the proof/),
        released: expect.stringMatching(NO_PROOF),
        wraps: [{ n: 0 }],
      });
      expect(await fresh.withVault((v) => v.sessionInfo('bank', 'late'))).toMatchObject({ status: 'active', events: 2 });
      expect((await fresh.withVault((v) => v.operator({ actor: 'ops', reason: 'check' }).state('bank', 'late'))).messages).toEqual([
        expect.objectContaining({ content: 'a late claim' }),
      ]);
      // A process asked to act as the operator role does not register one either: it is told to run `init`.
      now += 40 * 86_400_000;
      const operatorRole = storeOf(vault).layout.operatorRole;
      await expect(fresh.withVault((v) => v.operator({ actor: 'ops', reason: 'nightly' }).archive('bank', 'late'), { appRole: operatorRole })).rejects.toMatchObject({
        code: 'PERMISSION_DENIED',
        message: expect.stringMatching(/no process has registered one yet: run `session-vault init` as the database owner/),
      });
      // The vault's own archive, by a process acting as its login (here the owner), registers the vault's key and archives.
      expect(await fresh.withVault((v) => v.operator({ actor: 'ops', reason: 'nightly' }).archive('bank', 'late'))).toMatchObject({ outcome: 'archived' });
    } finally {
      fresh.cleanup();
    }
  });
});

// Two processes at once need a server: the embedded store serves one process at a time.
describe.each(backends().filter((b) => b.name === 'postgres'))('two processes registering the release key at once, on $name', (backend) => {
  it('end with one key: the proofs each makes are the same, and the database checks them', async () => {
    const store = await storeHome(backend);
    const [a, b] = [await store.open(), await store.open()];
    try {
      await Promise.all([releaseKeyOf(a).ensure(), releaseKeyOf(b).ensure()]);
      const subject = { tenant: 'bank', session: 'claim', headSeq: 3, digest: Buffer.from('dead', 'hex') };
      const [pa, pb] = [await releaseKeyOf(a).proof(subject), await releaseKeyOf(b).proof(subject)];
      expect(Buffer.from(pa).equals(Buffer.from(pb))).toBe(true);
      const [held] = await asOwner(a, store.database!, [{ text: 'SELECT session_vault_release_proof_holds($1, $2, $3, $4, $5) AS holds', values: ['bank', 'claim', 3, subject.digest, Buffer.from(pa)] }], { triggers: 'on' });
      expect(held).toEqual([{ holds: true }]);
    } finally {
      await a.close();
      await b.close();
      store.cleanup();
    }
  });
});
