import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault } from '../../src/vault';
import { readKeyringDocument, replaceKeyringFile, withNewSigningKey } from '../../src/keys';
import { refusal } from '../support/refusal';
import { storeHome, type StoreHome } from '../support/store-home';
import { runCli } from '../support/cli';
import { forgeEvent } from '../support/forged-event';
import { KeyError } from '../../src/errors';
import { asOwner } from '../support/owner';

/**
 * A session's head (sessions.head_seq, head_hash), which every append checks and moves,
 * against the agent's own database credentials (the application role's, stolen, no
 * keyring), by performing the attacks. Before drizzle/0047_head_forward.sql the role could
 * set the head back to an earlier event, after which every append collided with the
 * events stored after it and gave up (APPEND_CONTENDED), or write another hash at the
 * same seq for the next append to chain onto. It can still append: a correctly chained
 * event (the chain hash needs no key) that no key opens, with no signed checkpoint, which
 * verify did not name, and which the vault's next append signed into the chain; now
 * verify names it (unsigned_tail) and the vault refuses to append onto it.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())("a session's head, on $name", (backend) => {
  let store: StoreHome;
  let vault: Vault; // one process, open throughout; others open after it closes (the embedded store serves one at a time)
  const asApp = (q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), storeOf(vault).layout.appRole);
  const hashAt = (seq: number) => `(SELECT hash FROM events WHERE session_id = 'claim' AND seq = ${seq})`;
  /**
   * The tenant as one from before drizzle/0051 (its older wraps not all signed), where a
   * writer with signing off may still create sessions: set so by the owner with triggers
   * off, as no role may clear it. Sessions written with signing off are what these tests
   * look at; a tenant a vault that signs creates takes them no more.
   */
  const fromBeforeSignedOnly = (tenant: string) =>
    asOwner(vault, store.database ?? 'pglite', [{ text: `UPDATE tenants SET wraps_signed = false WHERE tenant_id = '${tenant}'` }]);

  beforeAll(async () => {
    store = await storeHome(backend);
    vault = await store.open();
    await vault.createTenant('bank');
    for (let i = 1; i <= 3; i++) await vault.session('bank', 'claim').append({ type: 'message', role: 'user', content: `message ${i}` });
  }, 60_000);
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('the application role cannot move it back to an earlier event, nor write another hash at its seq; appends go on', async () => {
    expect(await refusal(asApp(`UPDATE sessions SET head_seq = 2, head_hash = ${hashAt(2)} WHERE session_id = 'claim'`))).toMatch(/STORAGE_REFUSED.*only moves forward/);
    expect(await refusal(asApp(`UPDATE sessions SET head_hash = ${hashAt(2)} WHERE session_id = 'claim'`))).toMatch(/only moves forward/);
    expect(await refusal(asApp(`UPDATE sessions SET head_seq = 0, head_hash = NULL WHERE session_id = 'claim'`))).toMatch(/only moves forward/);
    await expect(vault.session('bank', 'claim').append({ type: 'message', role: 'user', content: 'message 4' })).resolves.toMatchObject({ firstSeq: 4 });
    expect((await vault.session('bank', 'claim').state()).messages).toHaveLength(4);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });

  const forge = (session: string) => forgeEvent(asApp, 'bank', session);

  it('the application role appends a chained event no key opens: verify names the unsigned tail, and no vault appends onto it', async () => {
    const seq = await forge('claim');
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([{ tenant: 'bank', session: 'claim', seq, kind: 'unsigned_tail' }]);
    // This process's head is its own append's: the database says it moved, and the reloaded head is refused.
    const append = () => vault.session('bank', 'claim').append({ type: 'message', role: 'user', content: 'message 6' });
    expect(await refusal(append())).toMatch(/^CHAIN_BROKEN the head of bank\/claim \(seq 5\) has no checkpoint a trusted key signed/);
    // A fresh process, which loads the head from the database, likewise; nothing is appended.
    await vault.close();
    await store.withVault(async (fresh) => {
      expect(await refusal(fresh.session('bank', 'claim').append({ type: 'task', task: 'next' }))).toMatch(/^CHAIN_BROKEN /);
      expect((await fresh.sessions('bank')).find((x) => x.session === 'claim')?.events).toBe(seq);
      // Nor read: the head is one no trusted key signed, refused before any event is opened.
      await expect(fresh.session('bank', 'claim').state()).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
      expect((await fresh.verify({ tenant: 'bank' })).problems).toEqual([{ tenant: 'bank', session: 'claim', seq, kind: 'unsigned_tail' }]);
      // Nor does a checkpoint run sign it: it reports the head, and verify still names it.
      expect(await fresh.checkpoint({ tenant: 'bank', session: 'claim' })).toEqual([expect.objectContaining({ session: 'claim', seq, witness: 'unsigned_head' })]);
      expect((await fresh.verify({ tenant: 'bank' })).problems).toEqual([{ tenant: 'bank', session: 'claim', seq, kind: 'unsigned_tail' }]);
    });
    const env = { VAULT_HOME: store.home, ...(store.database ? { VAULT_DATABASE_URL: store.database } : {}) };
    const run = await runCli(env, ['checkpoint', 'bank']);
    expect([run.code, run.stdout]).toEqual([1, expect.stringMatching(new RegExp(`bank/claim seq ${seq} head [0-9a-f]{64}: unsigned_head\\n[\\s\\S]*NOT SIGNED 1 `))]);
    vault = await store.open();
  });

  it('the application role moves the head past the last event: verify names it, and no vault appends onto it', async () => {
    await vault.session('bank', 'loan').append({ type: 'message', role: 'user', content: 'loan 1' });
    await asApp(`UPDATE sessions SET head_seq = 9, head_hash = '\\x${randomBytes(32).toString('hex')}' WHERE session_id = 'loan'`);
    expect(await refusal(vault.session('bank', 'loan').append({ type: 'message', role: 'user', content: 'loan 2' }))).toMatch(/^CHAIN_BROKEN the head of bank\/loan \(seq 9\)/);
    expect((await vault.verify({ tenant: 'bank', session: 'loan' })).problems).toEqual([{ tenant: 'bank', session: 'loan', seq: 2, kind: 'missing_tail' }]);
  });

  it('checkpoint rows the application role stores at the head, ahead of the signed one, do not hide it: appends go on, and verify names them', async () => {
    await vault.session('bank', 'crowded').append({ type: 'message', role: 'user', content: 'crowded 1' });
    for (let i = 0; i < 9; i++) await asApp(`INSERT INTO checkpoints VALUES ('bank', 'crowded', 1, '0${i}', '\\x00', now(), 'junk')`);
    await vault.close();
    vault = await store.open(); // loads the head from the database, and checks it
    await expect(vault.session('bank', 'crowded').append({ type: 'message', role: 'user', content: 'crowded 2' })).resolves.toMatchObject({ firstSeq: 2 });
    const found = (await vault.verify({ tenant: 'bank', session: 'crowded' })).problems.map((p) => `${p.seq} ${p.kind}`);
    expect(found).toEqual(Array(9).fill('1 malformed_checkpoint'));
  });

  it('a checkpoint row the application role stores ahead of the head, under the vault\'s key id: the next append is refused at once, and verify names the row (denial of service, not prevented)', async () => {
    await vault.session('bank', 'squat').append({ type: 'message', role: 'user', content: 'squat 1' });
    await asApp(`INSERT INTO checkpoints SELECT tenant_id, session_id, 2, key_id, '\\x00', now(), 'junk' FROM checkpoints WHERE session_id = 'squat' AND seq = 1`);
    expect(await refusal(vault.session('bank', 'squat').append({ type: 'message', role: 'user', content: 'squat 2' }))).toMatch(
      /^CHAIN_BROKEN a checkpoint of bank\/squat at seq 2, under this vault's signing key, was stored before the event it would sign/,
    );
    expect((await vault.sessions('bank')).find((x) => x.session === 'squat')?.events).toBe(1);
    // Appended together with other sessions already open (one group statement, which fails
    // whole and is written again part by part): only the session whose seq is taken is refused.
    for (const id of ['beside-1', 'beside-2']) await vault.session('bank', id).append({ type: 'task', task: 'open' });
    const together = await Promise.allSettled(['squat', 'beside-1', 'beside-2'].map((id) => vault.session('bank', id).append({ type: 'task', task: `together ${id}` })));
    expect(together.map((r) => (r.status === 'fulfilled' ? 'appended' : (r.reason as { code: string }).code))).toEqual(['CHAIN_BROKEN', 'appended', 'appended']);
    expect((await vault.verify({ tenant: 'bank', session: 'squat' })).problems.map((p) => `${p.seq} ${p.kind}`)).toEqual(['2 malformed_checkpoint']);
  });

  it('a session written with signing off, which has no checkpoint at all, is appended to by a vault that signs, and verify is clean once its key wrap is signed', async () => {
    await fromBeforeSignedOnly('bank');
    await vault.close();
    await store.withVault((unsigned) => unsigned.session('bank', 'legacy').append({ type: 'message', role: 'user', content: 'before signing' }), { checkpoints: false });
    vault = await store.open();
    await expect(vault.session('bank', 'legacy').append({ type: 'message', role: 'user', content: 'signed from here' })).resolves.toMatchObject({ firstSeq: 2 });
    // Its key wrap, written with signing off, is signed by the key holder's `keys check --sign` (the application role may not write wraps).
    expect((await vault.verify({ tenant: 'bank', session: 'legacy' })).problems).toEqual([{ tenant: 'bank', session: 'legacy', seq: 2, kind: 'session_key_unsigned' }]);
    await vault.operator({ actor: 'dana', reason: 'adopt' }).checkKeys('bank', { sign: true });
    expect((await vault.verify({ tenant: 'bank', session: 'legacy' })).problems).toEqual([]);
    // A checkpoint run signs such a session too (it adopts it): every event opens under its key.
    await fromBeforeSignedOnly('bank');
    await vault.close();
    await store.withVault((unsigned) => unsigned.session('bank', 'legacy-2').appendMany([{ type: 'message', role: 'user', content: 'one' }, { type: 'task', task: 'two' }]), { checkpoints: false });
    vault = await store.open();
    const legacy2 = async () => (await vault.verify({ tenant: 'bank', session: 'legacy-2' })).problems.map((p) => `${p.seq} ${p.kind}`);
    expect(await legacy2()).toEqual(['2 session_key_unsigned', '1 unsigned_tail']);
    expect(await vault.checkpoint({ tenant: 'bank', session: 'legacy-2' })).toEqual([expect.objectContaining({ seq: 2, witness: 'recorded' })]);
    expect(await legacy2()).toEqual(['2 session_key_unsigned']);
    await vault.operator({ actor: 'dana', reason: 'adopt' }).checkKeys('bank', { sign: true });
    expect(await legacy2()).toEqual([]);
  });

  it('the application role appends a chained event no key opens onto a session written with signing off: no vault appends onto it or signs it', async () => {
    await fromBeforeSignedOnly('bank');
    await vault.close();
    await store.withVault((unsigned) => unsigned.session('bank', 'old').append({ type: 'message', role: 'user', content: 'before signing' }), { checkpoints: false });
    vault = await store.open();
    expect(await forge('old')).toBe(2);
    const named = [
      { tenant: 'bank', session: 'old', seq: 2, kind: 'session_key_unsigned' }, // written with signing off
      { tenant: 'bank', session: 'old', seq: 1, kind: 'unsigned_tail' },
    ];
    expect((await vault.verify({ tenant: 'bank', session: 'old' })).problems).toEqual(named);
    expect(await refusal(vault.session('bank', 'old').append({ type: 'message', role: 'user', content: 'signed from here' }))).toMatch(
      /^CHAIN_BROKEN the head of bank\/old \(seq 2\) has no checkpoint, and the session's events do not all open under its key/,
    );
    expect(await vault.checkpoint({ tenant: 'bank', session: 'old' })).toEqual([expect.objectContaining({ seq: 2, witness: 'unsigned_head' })]);
    expect((await vault.verify({ tenant: 'bank', session: 'old' })).problems).toEqual(named);
    expect((await vault.sessions('bank')).find((x) => x.session === 'old')?.events).toBe(2);
  });

  it('a session written with signing off that can no longer be opened (shredded, or its archive object gone) is reported by a checkpoint run, not signed, and the run goes on', async () => {
    await fromBeforeSignedOnly('bank');
    await vault.close();
    await store.withVault(async (unsigned) => {
      for (const s of ['gone', 'lost']) await unsigned.session('bank', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
    }, { checkpoints: false });
    // Shredded by an operator whose key service refuses to unwrap, so that the shred could
    // not adopt it first: the erasure goes on, its marker is left unsigned, and nothing can
    // open its events any more.
    const refused = () => Promise.reject(new KeyError('KEY_UNAVAILABLE', 'the key service refused'));
    await store.withVault((v) => v.operator({ actor: 'dana', reason: 'erasure request' }).shred('bank', 'gone'), { keyProvider: { wrapTenantKey: refused, unwrapTenantKey: refused } });
    vault = await store.open();
    await expect(vault.session('bank', 'gone').state()).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    const op = vault.operator({ actor: 'dana', reason: 'erasure request' });
    await op.archive('bank', 'lost');
    const archive = path.join(store.home, 'archive');
    for (const f of readdirSync(archive, { recursive: true }).map(String)) if (f.includes('lost') && statSync(path.join(archive, f)).isFile()) rmSync(path.join(archive, f));
    expect(await vault.checkpoint({ tenant: 'bank', session: 'gone' })).toEqual([expect.objectContaining({ seq: 2, witness: 'unsigned_head' })]);
    expect(await vault.checkpoint({ tenant: 'bank', session: 'lost' })).toEqual([expect.objectContaining({ seq: 1, witness: 'unsigned_head' })]);
    const all = await vault.checkpoint({ tenant: 'bank' });
    expect(all.filter((r) => r.witness === 'unsigned_head').map((r) => r.session).sort()).toEqual(expect.arrayContaining(['gone', 'lost']));
  });

  it('a shred of a session written with signing off adopts it first: the marker is signed where every event opens, and left unsigned where one does not', async () => {
    await fromBeforeSignedOnly('bank');
    await vault.close();
    await store.withVault(async (unsigned) => {
      for (const s of ['to-erase', 'forged-erase']) await unsigned.session('bank', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
    }, { checkpoints: false });
    vault = await store.open();
    const seq = await forge('forged-erase');
    const op = vault.operator({ actor: 'dana', reason: 'erasure request' });
    await op.shred('bank', 'to-erase');
    await op.shred('bank', 'forged-erase');
    const problems = async (s: string) => (await vault.verify({ tenant: 'bank', session: s })).problems.map((p) => `${p.seq} ${p.kind}`);
    expect(await problems('to-erase')).toEqual([]);
    expect(await problems('forged-erase')).toEqual([`1 unsigned_tail`]);
    expect(seq).toBe(2);
    // A whole tenant's shred adopts each such session the same way.
    await vault.createTenant('branch');
    await fromBeforeSignedOnly('branch');
    await vault.close();
    await store.withVault((unsigned) => unsigned.session('branch', 'old').append({ type: 'task', task: 'before signing' }), { checkpoints: false });
    vault = await store.open();
    await vault.operator({ actor: 'dana', reason: 'branch closed' }).shred('branch');
    expect((await vault.verify({ tenant: 'branch' })).problems).toEqual([]);
  });

  it('a checkpoint run that cannot unwrap keys leaves a session with no checkpoint unsigned, and signs the others', async () => {
    await fromBeforeSignedOnly('bank');
    await vault.close();
    await store.withVault((unsigned) => unsigned.session('bank', 'keyless').append({ type: 'message', role: 'user', content: 'before signing' }), { checkpoints: false });
    const refused = () => Promise.reject(new KeyError('KEY_UNAVAILABLE', 'the key service refused'));
    vault = await store.open({ keyProvider: { wrapTenantKey: refused, unwrapTenantKey: refused } });
    const run = await vault.checkpoint({ tenant: 'bank' });
    expect(run.find((r) => r.session === 'keyless')).toMatchObject({ seq: 1, witness: 'unsigned_head' });
    expect(run.find((r) => r.session === 'legacy')).toMatchObject({ witness: expect.stringMatching(/^(recorded|unchanged)$/) });
    await vault.close();
    vault = await store.open();
    expect(await vault.checkpoint({ tenant: 'bank', session: 'keyless' })).toEqual([expect.objectContaining({ seq: 1, witness: 'recorded' })]);
  });

  it('a shred of a session with events written outside the vault erases it, and does not sign over them: verify still names them', async () => {
    await vault.session('bank', 'erase').append({ type: 'message', role: 'user', content: 'erase me' });
    const seq = await forge('erase');
    await expect(vault.operator({ actor: 'dana', reason: 'erasure request' }).shred('bank', 'erase')).resolves.toEqual({ sessions: 1, tenantKeysDestroyed: false });
    expect((await vault.sessions('bank')).find((x) => x.session === 'erase')?.events).toBe(seq + 1);
    expect((await vault.verify({ tenant: 'bank', session: 'erase' })).problems).toEqual([{ tenant: 'bank', session: 'erase', seq, kind: 'unsigned_tail' }]);
    // Nor does a checkpoint run, which cannot open them any more.
    expect(await vault.checkpoint({ tenant: 'bank', session: 'erase' })).toEqual([expect.objectContaining({ seq: seq + 1, witness: 'unsigned_head' })]);
    expect((await vault.verify({ tenant: 'bank', session: 'erase' })).problems).toEqual([{ tenant: 'bank', session: 'erase', seq, kind: 'unsigned_tail' }]);
  });

  it('a head signed by a signing key since retired is one a fresh process, signing with the new key, appends onto', async () => {
    await vault.session('bank', 'rotated').append({ type: 'message', role: 'user', content: 'signed by the first key' });
    await vault.close();
    const keyring = path.join(store.home, 'keyring.json');
    await replaceKeyringFile(keyring, withNewSigningKey(await readKeyringDocument(keyring), new Date()).doc);
    vault = await store.open();
    await expect(vault.session('bank', 'rotated').append({ type: 'message', role: 'user', content: 'signed by the second' })).resolves.toMatchObject({ firstSeq: 2 });
    expect((await vault.verify({ tenant: 'bank', session: 'rotated' })).problems).toEqual([]);
  });
});
