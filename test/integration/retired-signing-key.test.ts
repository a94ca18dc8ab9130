import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { createLogger } from '../../src/observability';
import type { Vault, VaultOptions } from '../../src/vault';
import { EnvKeyProvider, dataKeyAad, readKeyringDocument, replaceKeyringFile, withNewSigningKey, wrapKey } from '../../src/keys';
import { SecretBytes, generateSigningKeyPair, signingKeyId } from '../../src/crypto';
import { sealSnapshot } from '../../src/events';
import { accessHash, parseTrustedKeys, signCheckpoint, signSnapshot, signTrailHead, signWrap, verifyBundle, verifyTrail, type CheckpointSigner } from '../../src/audit';
import { collectEvents } from '../../src/domain';
import { newToken, signGrant, type TokenGrant } from '../../src/tokens';
import { insertToken } from '../../src/store';
import { storeHome, type StoreHome } from '../support/store-home';
import { forgeEvent } from '../support/forged-event';
import { leakedDataKey, leakedTenantKey } from '../support/leaked-key';
import { refusal } from '../support/refusal';
import { asOwner } from '../support/owner';
import { runCli } from '../support/cli';
import type { VaultDeps } from '../../src/vault/deps';

/**
 * A retired checkpoint signing key, against whoever holds its secret half (the keyring
 * copy `keys rotate-signing` leaves as keyring.json.previous, a backup) with database
 * credentials (and, for content that opens, a leaked tenant key version), by performing
 * the attack. The key stays trusted after its retirement, so that what it signed in its
 * period keeps verifying; `verify` refused a checkpoint it signed after the period
 * (checkpoint_outside_key_period), but nothing else looked at the period:
 * - a head it signed over a forged event was handed to the agent by every read, and,
 *   dated back into the key's period, before the very event it signs, passed `verify` too;
 * - a `hold.clear` record it signed covered a hold lifted in SQL, and the operator's own
 *   erasure destroyed what the hold kept;
 * - an API token whose grant it signed was admitted;
 * - a state snapshot it signed was started from;
 * - at the head of a session idle since before the rotation, a forged event and its head
 *   dated back into the period were read as the vault's own, and `verify` passed them;
 * - a whole session it made up (a data key of the holder's own, its wrap signed with the
 *   key, events and heads dated into the period) read as the customer's history, and a
 *   tenant key version of the holder's own, its wrap signed with the key and made primary,
 *   wrapped the agent's next new session's key.
 * Now a retired key's checkpoint counts only when dated in its period and no earlier than
 * the event it signs (checkpoint_before_event); its access record only when dated in its
 * period and written before the key that followed it signed one (access_outside_key_period,
 * which `keys rotate-signing` closes at once); its token grant only with its creation so
 * recorded. And a checkpoint, key wrap, snapshot or access record it signed counts only if
 * the database stored it in the key's period, by its own clock (drizzle/0055-0057),
 * whatever time its signer states (a snapshot and a wrap state none): after a rotation made by hand, whose new key had signed no
 * record, a `hold.clear` record it dated back let the operator's erasure destroy what a
 * hold kept.
 */
afterAll(dropCreatedDatabases);

const MINUTE = 60_000;

/** A keyring entry's key pair as a signer: what whoever copied the keyring holds. */
const signerOf = (k: { id: string; publicKey: string; secretKey: string }): CheckpointSigner => ({
  id: k.id,
  publicKey: new Uint8Array(Buffer.from(k.publicKey, 'base64')),
  secretKey: SecretBytes.adopt(new Uint8Array(Buffer.from(k.secretKey, 'base64'))),
});

/** An access record chained onto the trail's head, signed with `signer` (a retired key), dated `at`, inserted with the application role's credentials. Its seq. */
async function forgeAccessRecord(vault: Vault, store: StoreHome, signer: CheckpointSigner, action: string, session: string | null, at: Date): Promise<number> {
  const [[last]] = (await asOwner(vault, store.database ?? 'pglite', [{ text: 'SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1' }])) as [{ seq: string; hash: Uint8Array }[]];
  const record = { seq: Number(last!.seq) + 1, at, actor: 'bob', action, tenant: 'bank', session, reason: 'released', outcome: 'granted', salt: new Uint8Array(randomBytes(16)) };
  const hash = accessHash(new Uint8Array(last!.hash), record);
  const { keyId, signature } = signTrailHead({ seq: record.seq, hash, at }, signer);
  const hex = (b: Uint8Array) => `decode('${Buffer.from(b).toString('hex')}', 'hex')`;
  await withTenant(
    storeOf(vault).db,
    'bank',
    'attack',
    (tx) =>
      tx.execute(
        sql.raw(
          `INSERT INTO access_log (seq, at, actor, action, tenant_id, session_id, reason, outcome, hash, key_id, signature, salt)
           VALUES (${record.seq}, '${at.toISOString()}', 'bob', '${action}', 'bank', ${session === null ? 'NULL' : `'${session}'`}, 'released', 'granted', ${hex(hash)}, '${keyId}', ${hex(signature)}, ${hex(record.salt)})`,
        ),
      ),
    storeOf(vault).layout.appRole,
  );
  return record.seq;
}

/** The legal role clears the hold in bob's name, and the clearing is covered by a record forged as forgeAccessRecord does. */
async function liftHoldAndCover(vault: Vault, store: StoreHome, signer: CheckpointSigner, session: string, at: Date): Promise<number> {
  await withTenant(
    storeOf(vault).db,
    'bank',
    'attack',
    (tx) => tx.execute(sql.raw(`UPDATE legal_holds SET cleared_at = '${at.toISOString()}', cleared_by = 'bob', clear_reason = 'released' WHERE session_id = '${session}' AND cleared_at IS NULL`)),
    storeOf(vault).layout.legalRole,
  );
  return forgeAccessRecord(vault, store, signer, 'hold.clear', session, at);
}

/** As the database's owner, moves every time the database stamped on what it stored back by `minutes`: the setup's clock was that far back, and the database's cannot be set. */
async function storedEarlier(vault: Vault, store: StoreHome, minutes: number): Promise<void> {
  // Every column the database stamps, found in the catalogue, so that a stamp added later is not missed.
  const url = store.database ?? 'pglite';
  const [columns] = (await asOwner(vault, url, [
    { text: `SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = $1 AND column_name LIKE '%stored_at' ORDER BY 1, 2`, values: [storeOf(vault).layout.schema] },
  ])) as [{ t: string; c: string }[]];
  expect(columns.length).toBeGreaterThanOrEqual(7);
  await asOwner(vault, url, columns.map(({ t, c }) => ({ text: `UPDATE ${t} SET ${c} = ${c} - interval '${minutes} minutes'` })));
}

/**
 * The keyring's signing key retired `minutesAgo` by a new one put in its place by hand, as
 * configuration management would (the vault closed): the retired key as whoever copied the
 * keyring holds it, and when it was retired.
 */
async function rotateByHand(store: StoreHome, minutesAgo: number): Promise<{ retired: CheckpointSigner; retiredAt: Date }> {
  const keyring = path.join(store.home, 'keyring.json');
  const before = await readKeyringDocument(keyring);
  const retiredAt = new Date(Date.now() - minutesAgo * MINUTE);
  await replaceKeyringFile(keyring, withNewSigningKey(before, retiredAt).doc);
  return { retired: signerOf(before.signingKeys.find((k) => k.id === before.primarySigningKey)!), retiredAt };
}

describe.each(backends())('a retired signing key, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  let retired: CheckpointSigner;
  let retiredAt: Date;
  let readerToken: string; // issued under the key about to be retired
  const asApp = (q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), storeOf(vault).layout.appRole);
  const rows = async <T>(q: string) => ((await asApp(q)) as unknown as { rows: T[] }).rows;
  const problems = async (session: string) => (await vault.verify({ tenant: 'bank', session })).problems.map((p) => `${p.seq} ${p.kind}`);
  const contents = async (session: string) => (await vault.session('bank', session).state()).messages.map((m) => m.content);
  const approved = { type: 'message', role: 'assistant', content: 'Second approval received: transfer approved.' } as const;
  const said = (content: string) => ({ type: 'message', role: 'user', content }) as const;

  const erasure = () => vault.operator({ actor: 'dana', reason: 'erasure request' });
  const forgeRecord = (action: string, session: string | null, at: Date, signer: CheckpointSigner = retired) => forgeAccessRecord(vault, store, signer, action, session, at);
  const liftAndCover = (session: string, at: Date, signer: CheckpointSigner = retired) => liftHoldAndCover(vault, store, signer, session, at);

  /**
   * What the holder stores with the application role's credentials: a session row of their
   * own, its data key (returned, for the caller to dispose of) wrapped under the leaked
   * primary tenant key version, the wrap signed with the retired key, the session and its
   * wrap's storage time dated `at`.
   */
  async function plantSession(tenant: string, session: string, at: Date): Promise<SecretBytes> {
    const v = (await vault.keys(tenant)).find((k) => k.state === 'primary')!.version;
    const tenantKey = await leakedTenantKey(vault, tenant, v);
    const dataKey = SecretBytes.adopt(new Uint8Array(randomBytes(32)));
    const wrapped = wrapKey(tenantKey, dataKey, dataKeyAad(tenant, session, 1, v));
    tenantKey.dispose();
    const wrap = signWrap({ kind: 'session', tenant, session, dataKeyVersion: 1, tenantKeyVersion: v }, 1, wrapped, retired);
    const hex = (b: Uint8Array) => `decode('${Buffer.from(b).toString('hex')}', 'hex')`;
    await withTenant(
      storeOf(vault).db,
      tenant,
      'attack',
      (tx) =>
        tx.execute(
          sql.raw(
            `INSERT INTO sessions (tenant_id, session_id, created_at, data_key_version, tenant_key_version, wrapped_data_key, wrap_seq, wrap_key_id, wrap_signature, retain_floor, wrap_stored_at)
             VALUES ('${tenant}', '${session}', '${at.toISOString()}', 1, ${v}, ${hex(wrapped)}, 1, '${wrap.keyId}', ${hex(wrap.signature)}, '7y', '${at.toISOString()}')`,
          ),
        ),
      storeOf(vault).layout.appRole,
    );
    return dataKey;
  }

  /** A fresh process (it holds no head and no state), its log lines kept. */
  async function reopen(): Promise<string[]> {
    await vault.close();
    const lines: string[] = [];
    vault = await store.open({ logger: createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } }) });
    return lines;
  }

  /** What the holder does: seals an event with the session's data key, chains it onto the head, and signs the new head with the retired key, dated `time`. */
  async function forgeSignedTail(session: string, time: (eventAt: Date) => Date, eventAt?: Date, dataKey?: SecretBytes): Promise<number> {
    const key = dataKey ?? (await leakedDataKey(vault, 'bank', session));
    const seq = await forgeEvent(asApp, 'bank', session, { sealedWith: key, event: approved }, eventAt);
    if (!dataKey) key.dispose();
    const [e] = await rows<{ h: string; at: Date }>(`SELECT encode(hash, 'hex') AS h, at FROM events WHERE session_id = '${session}' AND seq = ${seq}`);
    const hash = new Uint8Array(Buffer.from(e!.h, 'hex'));
    const note = signCheckpoint({ tenant: 'bank', session, seq, hash, time: time(new Date(e!.at)) }, retired);
    await asApp(`INSERT INTO checkpoints (tenant_id, session_id, seq, key_id, hash, signed_at, note) VALUES ('bank', '${session}', ${seq}, '${retired.id}', decode('${e!.h}', 'hex'), now(), '${note.replace(/'/g, "''")}')`);
    return seq;
  }

  beforeAll(async () => {
    store = await storeHome(backend);
    // Written half an hour ago, under the key that is about to be retired.
    const earlier = Date.now() - 30 * MINUTE;
    vault = await store.open({ clock: () => new Date(earlier) });
    await vault.createTenant('bank');
    for (const id of ['claim', 'backdated', 'idle', 'idle-too', 'snapped', 'held', 'held-too', 'released', 'rotated']) await vault.session('bank', id).appendMany([said('Please move 50,000 EUR to my savings'), said('Is it done?')]);
    expect(await vault.session('bank', 'idle').snapshot()).toBe(2);
    await vault.operator({ actor: 'alice', reason: 'litigation 2026-09' }).setHold('bank', 'released'); // recorded under the key about to be retired
    readerToken = (await vault.operator({ actor: 'alice', reason: 'dashboard' }).createToken('bank', { role: 'reader', label: 'dashboard' })).token;
    // The database stamped what it stored with its own clock, which no test can set back: as its owner, put those times where the setup's clock was.
    await storedEarlier(vault, store, 30);
    await vault.close();
    // Rotated twenty minutes ago; its secret half is in the attacker's hands.
    ({ retired, retiredAt } = await rotateByHand(store, 20));
    vault = await store.open();
    // The agent goes on under the new key.
    for (const id of ['backdated', 'snapped']) await vault.session('bank', id).append(said('Hello?'));
    for (const id of ['held', 'held-too']) await vault.operator({ actor: 'alice', reason: 'litigation 2026-17' }).setHold('bank', id);
    expect(await problems('claim')).toEqual([]);
  }, 60_000);
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('a head it signed after its retirement is refused to reads and appends, and verify names it', async () => {
    const seq = await forgeSignedTail('claim', () => new Date());
    await reopen();
    expect(await refusal(contents('claim'))).toMatch(/^CHAIN_BROKEN the head of bank\/claim \(seq 3\) has no checkpoint a trusted key signed/);
    expect(await refusal(collectEvents(vault.session('bank', 'claim').events()))).toMatch(/^CHAIN_BROKEN /);
    expect(await refusal(vault.session('bank', 'claim').append(said('Thanks')))).toMatch(/^CHAIN_BROKEN the head of bank\/claim \(seq 3\)/);
    // What was signed in the key's period still reads.
    expect((await vault.session('bank', 'claim').state({ atSeq: 2 })).messages.map((m) => m.content)).toEqual(['Please move 50,000 EUR to my savings', 'Is it done?']);
    expect(await problems('claim')).toEqual([`${seq} checkpoint_outside_key_period`, `${seq} unsigned_tail`]);
    // And on a machine with the witness but no keyring (an operator's, an auditor's): the witness keeps the key's retirement beside it.
    await vault.close();
    try {
      const keyless = await store.withVault((v) => v.verify({ tenant: 'bank', session: 'claim' }), { keyring: path.join(store.home, 'no-keyring.json') });
      expect(keyless.problems.map((p) => `${p.seq} ${p.kind}`)).toEqual([`${seq} checkpoint_outside_key_period`, `${seq} unsigned_tail`]);
    } finally {
      vault = await store.open();
    }
  });

  it('a head it signed dated back into its period, before the event it signs, is refused too, and verify names it', async () => {
    // The event cannot be dated back with it: a session's last-event time only moves forward.
    const dataKey = await leakedDataKey(vault, 'bank', 'backdated');
    expect(await refusal(forgeEvent(asApp, 'bank', 'backdated', { sealedWith: dataKey, event: approved }, new Date(retiredAt.getTime() - MINUTE)))).toMatch(
      /^STORAGE_REFUSED .*a session's last-event time only moves forward/,
    );
    dataKey.dispose();
    const seq = await forgeSignedTail('backdated', () => new Date(retiredAt.getTime() - MINUTE));
    await reopen();
    expect(await refusal(contents('backdated'))).toMatch(/^CHAIN_BROKEN the head of bank\/backdated \(seq 4\) has no checkpoint a trusted key signed/);
    expect(await refusal(vault.session('bank', 'backdated').append(said('Thanks')))).toMatch(/^CHAIN_BROKEN /);
    // Stored after the key's period as well: verify names that first. A bundle carries no storage times, so offline the date is what gives it away.
    expect(await problems('backdated')).toEqual([`${seq} checkpoint_outside_key_period`, `${seq} unsigned_tail`]);
    // And the auditor, offline, from the session's bundle (its manifest carries what verify found as well).
    const bundle = await vault.operator({ actor: 'dana', reason: 'incident review' }).export('bank', 'backdated');
    const report = await verifyBundle(JSON.parse(JSON.stringify(bundle)));
    const found = (kind: (k: string) => boolean) => report.problems.filter((p) => p.seq === seq && kind(p.kind)).map((p) => p.kind);
    expect(found((k) => k !== 'source_problem')).toEqual(['checkpoint_before_event', 'unsigned_tail']); // its own checks
    expect(found((k) => k === 'source_problem')).toHaveLength(2); // the exporter's verify, as its manifest states it
  });

  it('a head it signs at the end of a session idle since before its retirement, event and head dated back into its period, is refused: the database stored it after the period', async () => {
    // The session's last event is older than the retirement, so the database lets the forged one be dated into the period too.
    const back = new Date(retiredAt.getTime() - 2 * MINUTE);
    // Nor can the time the database stores the head at be given with it: no role that writes checkpoints may set it.
    const note = signCheckpoint({ tenant: 'bank', session: 'idle-too', seq: 2, hash: new Uint8Array(32), time: back }, retired);
    expect(
      await refusal(asApp(`INSERT INTO checkpoints (tenant_id, session_id, seq, key_id, hash, signed_at, note, stored_at) VALUES ('bank', 'idle-too', 2, '${retired.id}', decode(repeat('00', 32), 'hex'), now(), '${note}', '${back.toISOString()}')`)),
    ).toMatch(/^PERMISSION_DENIED /);
    const seq = await forgeSignedTail('idle-too', () => back, back);
    await reopen();
    expect(await refusal(contents('idle-too'))).toMatch(/^CHAIN_BROKEN the head of bank\/idle-too \(seq 3\) has no checkpoint a trusted key signed/);
    expect(await refusal(vault.session('bank', 'idle-too').append(said('Thanks')))).toMatch(/^CHAIN_BROKEN /);
    expect((await vault.session('bank', 'idle-too').state({ atSeq: 2 })).messages.map((m) => m.content)).toEqual(['Please move 50,000 EUR to my savings', 'Is it done?']);
    expect(await problems('idle-too')).toEqual([`${seq} checkpoint_outside_key_period`, `${seq} unsigned_tail`]);
  });

  it('a session it makes up whole, key wrap, events and heads dated back into its period, is refused and named', async () => {
    const back = new Date(retiredAt.getTime() - 10 * MINUTE);
    // The time the database stores the wrap at is its own: the one the holder gives is replaced, on insert and on any later write.
    const dataKey = await plantSession('bank', 'made-up', back);
    const operator = (q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), storeOf(vault).layout.operatorRole);
    await operator(`UPDATE sessions SET wrap_stored_at = '${back.toISOString()}' WHERE session_id = 'made-up'`);
    const [{ late }] = (await rows<{ late: boolean }>(`SELECT wrap_stored_at > now() - interval '1 minute' AS late FROM sessions WHERE session_id = 'made-up'`)) as [{ late: boolean }];
    expect(late).toBe(true);
    const seq = await forgeSignedTail('made-up', () => back, back, dataKey);
    dataKey.dispose();
    await reopen();
    // Neither read as the customer's history, nor written to: the agent's next message would go under the holder's key.
    expect(await refusal(contents('made-up'))).toMatch(/^WRAP_UNSIGNED the key wrap of session bank\/made-up carries no signature of a trusted key/);
    expect(await refusal(vault.session('bank', 'made-up').append(said('My PIN is 1234')))).toMatch(/^WRAP_UNSIGNED /);
    expect(await problems('made-up')).toEqual([`${seq} checkpoint_outside_key_period`, `${seq} session_key_unsigned`, `${seq} unsigned_tail`]);
  });

  it("in a tenant of older wraps, `keys check --sign` names a wrap it signed and the database stored after its period, and does not sign it over", async () => {
    await vault.createTenant('older');
    await asOwner(vault, store.database ?? 'pglite', [{ text: `UPDATE tenants SET wraps_signed = false WHERE tenant_id = 'older'` }]); // as a tenant from before 0051
    (await plantSession('older', 'made-up', new Date(retiredAt.getTime() - 10 * MINUTE))).dispose();
    const signature = async () => ((await withTenant(storeOf(vault).db, 'older', 'reading', (tx) => tx.execute(sql.raw(`SELECT encode(wrap_signature, 'hex') AS s FROM sessions WHERE session_id = 'made-up'`)))) as unknown as { rows: { s: string }[] }).rows[0]!.s;
    const before = await signature();
    const report = await vault.operator({ actor: 'custodian', reason: 'quarterly key check' }).checkKeys('older', { sign: true });
    expect(report).toMatchObject({ ok: false, unsigned: 0, signed: 0, signedOnly: 0, problems: [{ tenant: 'older', session: 'made-up', kind: 'session_key_untrusted', code: 'WRAP_UNSIGNED' }] });
    expect(await signature()).toBe(before);
  });

  it('a session idle since before the rotation still reads and appends: its head was signed in the key\'s period', async () => {
    const lines = await reopen();
    expect(await contents('idle')).toEqual(['Please move 50,000 EUR to my savings', 'Is it done?']);
    // Its snapshot, which the retired key signed and the database stored in the key's period, is started from: no fold from the first event.
    expect(lines.filter((l) => l.includes('"snapshot.ignored"'))).toEqual([]);
    await vault.session('bank', 'idle').append(said('Still there?'));
    expect(await contents('idle')).toEqual(['Please move 50,000 EUR to my savings', 'Is it done?', 'Still there?']);
    expect(await problems('idle')).toEqual([]);
  });

  it('a host whose keyring copy was not replaced refuses to sign or read with the retired key, and its verify names what the key signed since: the witness states its retirement', async () => {
    await vault.close();
    try {
      const stale = await store.open({ keyring: path.join(store.home, 'keyring.json.previous') });
      try {
        expect(await refusal(stale.session('bank', 'idle').append(said('Anyone?')))).toMatch(
          new RegExp(`^SIGNING_KEY_RETIRED the signing key ${retired.id} was retired at ${retiredAt.toISOString().replace(/\./g, '\\.')}, as the witness states: this host's keyring or signing key is out of date`),
        );
        expect(await refusal(stale.session('bank', 'fresh-one').append(said('Anyone?')))).toMatch(/^SIGNING_KEY_RETIRED /);
        // Nor does it read (its reads check heads with the key it signs with), and its verify holds the key to the period the witness states.
        expect(await refusal(stale.session('bank', 'claim').state())).toMatch(/^SIGNING_KEY_RETIRED /);
        expect((await stale.verify({ tenant: 'bank', session: 'claim' })).problems.map((p) => p.kind)).toEqual(['checkpoint_outside_key_period', 'unsigned_tail']);
      } finally {
        await stale.close();
      }
    } finally {
      vault = await store.open();
    }
    expect((await vault.sessions('bank')).map((s) => s.session)).not.toContain('fresh-one');
    expect(await problems('idle')).toEqual([]);
  });

  it("a data-only restore, as the database's owner with the triggers on, keeps the storage times it gives: a session wrapped before the rotation still opens", async () => {
    const stamp = async () => ((await rows<{ t: string }>(`SELECT wrap_stored_at::text AS t FROM sessions WHERE session_id = 'idle'`)) as [{ t: string }])[0].t;
    const before = await stamp();
    // What a restore of the row does: its wrap written again with the time it had.
    await asOwner(vault, store.database ?? 'pglite', [{ text: `UPDATE sessions SET wrapped_data_key = wrapped_data_key, wrap_stored_at = '${before}' WHERE session_id = 'idle'` }], { triggers: 'on' });
    expect(await stamp()).toBe(before);
    await reopen();
    expect(await contents('idle')).toEqual(['Please move 50,000 EUR to my savings', 'Is it done?', 'Still there?']);
  });

  it("an access record it signs is not the vault's own: a hold lifted outside the vault, covered by one dated now or dated back, still stops an erasure, and verify names both", async () => {
    const now = await liftAndCover('held', new Date());
    expect((await vault.holds('bank')).map((h) => h.session).sort()).toEqual(['held-too', 'released']);
    await expect(erasure().shred('bank', 'held')).rejects.toMatchObject({ code: 'LEGAL_HOLD', message: expect.stringMatching(/lifted outside the vault \(held\)/) });
    const back = await liftAndCover('held-too', new Date(retiredAt.getTime() - MINUTE));
    await expect(erasure().shred('bank', 'held-too')).rejects.toMatchObject({ code: 'LEGAL_HOLD', message: expect.stringMatching(/lifted outside the vault \(held-too\)/) });
    // A hold it recorded in its period, cleared through the vault since: its records count, and the erasure goes on.
    await vault.operator({ actor: 'bob', reason: 'released' }).clearHold('bank', 'released');
    await expect(erasure().shred('bank', 'released')).resolves.toMatchObject({ sessions: 1 });
    const report = await vault.verify({ tenant: 'bank' });
    const named = report.problems.filter((p) => ['(access trail)', '(retention policy)', 'held', 'held-too', 'released'].includes(p.session)).map((p) => `${p.session} ${p.seq} ${p.kind}`);
    expect(named).toEqual([`(access trail) ${now} access_outside_key_period`, `(access trail) ${back} access_outside_key_period`, expect.stringMatching(/^held \d+ hold_clear_unrecorded$/), expect.stringMatching(/^held-too \d+ hold_clear_unrecorded$/)]);
  });

  it('right after `keys rotate-signing`, a record the key it retired signs, dated in its grace, counts for nothing either: the new key has signed one already', async () => {
    await vault.operator({ actor: 'alice', reason: 'litigation 2026-21' }).setHold('bank', 'rotated');
    await vault.close(); // the embedded store serves one process at a time
    const keyring = path.join(store.home, 'keyring.json');
    const before = await readKeyringDocument(keyring);
    const env = { VAULT_HOME: store.home, ...(store.database ? { VAULT_DATABASE_URL: store.database } : {}) };
    const cli = await runCli(env, ['keys', 'rotate-signing', '--actor', 'sec', '--reason', 'annual', '--json']);
    expect(cli.code).toBe(0);
    const rotated = JSON.parse(cli.stdout) as { previous: string; primary: string };
    expect(rotated.previous).toBe(before.primarySigningKey);
    const old = before.signingKeys.find((k) => k.id === before.primarySigningKey)!;
    const justRetired = signerOf(old);
    vault = await store.open();
    const [[last]] = (await asOwner(vault, store.database ?? 'pglite', [{ text: 'SELECT action, key_id FROM access_log ORDER BY seq DESC LIMIT 1' }])) as [{ action: string; key_id: string }[]];
    expect(last).toEqual({ action: `keys.signing-key:${rotated.primary}`, key_id: rotated.primary });
    const seq = await liftAndCover('rotated', new Date(), justRetired);
    await expect(vault.operator({ actor: 'dana', reason: 'erasure request' }).shred('bank', 'rotated')).rejects.toMatchObject({ code: 'LEGAL_HOLD' });
    const named = (await vault.verify({ tenant: 'bank' })).problems.filter((p) => p.seq === seq || p.session === 'rotated').map((p) => `${p.session} ${p.kind}`);
    expect(named).toEqual(['(access trail) access_outside_key_period', 'rotated hold_clear_unrecorded']);
  });

  it('an API token it grants is refused, dated now or dated back; one it granted in its period, recorded, still works', async () => {
    /** What the holder stores with the operator role's credentials: an admin token whose secret they know, its grant signed with the retired key. */
    async function mint(createdAt: Date, recorded = false): Promise<string> {
      const made = newToken('bank');
      if (recorded) await forgeRecord(`tokens.create:${made.id}:admin`, null, createdAt);
      const grant: TokenGrant = { id: made.id, tenant: 'bank', role: 'admin', label: null, secretHash: made.secretHash, createdAt, expiresAt: null, createdBy: 'alice' };
      await withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => insertToken(tx, { ...grant, ...signGrant(grant, retired) }), storeOf(vault).layout.operatorRole);
      return made.token;
    }
    const refused = /^UNAUTHENTICATED /;
    expect(await refusal(vault.authenticate(await mint(new Date())))).toMatch(refused);
    expect(await refusal(vault.authenticate(await mint(new Date(retiredAt.getTime() - MINUTE))))).toMatch(refused);
    // Its creation recorded as well, by a record the same key signs: that record is not the vault's either.
    expect(await refusal(vault.authenticate(await mint(new Date(retiredAt.getTime() - MINUTE), true)))).toMatch(refused);
    await expect(vault.authenticate(readerToken)).resolves.toMatchObject({ tenant: 'bank', role: 'reader' });
  });

  it('a state snapshot it signed is not started from, and verify names it: the database stored it after the period', async () => {
    const [e] = await rows<{ h: string; at: Date }>(`SELECT encode(hash, 'hex') AS h, at FROM events WHERE session_id = 'snapped' AND seq = 3`);
    const honest = await vault.session('bank', 'snapped').state();
    const forged = { ...honest, messages: [...honest.messages, { ...honest.messages[2]!, content: approved.content }] };
    const dataKey = await leakedDataKey(vault, 'bank', 'snapped');
    const sealed = sealSnapshot(JSON.stringify(forged), { tenant: 'bank', session: 'snapped', seq: 3, at: new Date(e!.at), headHash: Buffer.from(e!.h, 'hex') }, dataKey);
    dataKey.dispose();
    const { keyId, signature } = signSnapshot(sealed, retired);
    const hex = (b: Uint8Array) => `decode('${Buffer.from(b).toString('hex')}', 'hex')`;
    await asApp(
      `INSERT INTO snapshots (tenant_id, session_id, seq, at, head_hash, key_version, nonce, ciphertext, key_id, signature)
       VALUES ('bank', 'snapped', 3, '${new Date(e!.at).toISOString()}', ${hex(sealed.headHash)}, ${sealed.keyVersion}, ${hex(sealed.nonce)}, ${hex(sealed.ciphertext)}, '${keyId}', ${hex(signature)})`,
    );
    await reopen();
    expect(await contents('snapped')).toEqual(honest.messages.map((m) => m.content));
    // Stored after the key's period: verify names it, evidence that the key and the session's data key are out.
    expect((await vault.verify({ tenant: 'bank', session: 'snapped' })).problems.filter((p) => p.session === 'snapped').map((p) => `${p.seq} ${p.kind}`)).toEqual(['3 snapshot_unsigned']);
  });

  it("a tenant key version of the holder's own, its wrap signed with it and made primary, wraps no session's key: the database stored it after the period", async () => {
    // With the master key as well (the vault's own provider stands in for its leak) and the operator role's credentials.
    const provider = await (vault as unknown as { deps: VaultDeps }).deps.provider();
    const own = SecretBytes.adopt(new Uint8Array(randomBytes(32)));
    const { masterKeyId, wrapped } = await provider.wrapTenantKey({ tenant: 'bank', version: 9 }, own); // the provider may keep it: disposed at the end
    const wrap = signWrap({ kind: 'tenant', tenant: 'bank', version: 9, masterKeyId }, 1, wrapped, retired);
    const back = new Date(retiredAt.getTime() - 10 * MINUTE);
    const hex = (b: Uint8Array) => `decode('${Buffer.from(b).toString('hex')}', 'hex')`;
    await withTenant(
      storeOf(vault).db,
      'bank',
      'attack',
      async (tx) => {
        await tx.execute(sql.raw(`UPDATE tenant_keys SET state = 'active' WHERE state = 'primary'`));
        await tx.execute(
          sql.raw(
            `INSERT INTO tenant_keys (tenant_id, version, master_key_id, wrapped_key, state, wrap_seq, wrap_key_id, wrap_signature, created_at, wrap_stored_at)
             VALUES ('bank', 9, '${masterKeyId}', ${hex(wrapped)}, 'primary', 1, '${wrap.keyId}', ${hex(wrap.signature)}, '${back.toISOString()}', '${back.toISOString()}')`,
          ),
        );
      },
      storeOf(vault).layout.operatorRole,
    );
    await reopen();
    // The agent's next new session would have its key wrapped under a key the holder knows: nothing is written.
    expect(await refusal(vault.session('bank', 'new-claim').append(said('My account number is DE89 3704 0044 0532 0130 00')))).toMatch(
      /^WRAP_UNSIGNED the wrap of tenant bank's key version 9 carries no signature of a trusted key/,
    );
    expect(await rows(`SELECT session_id FROM sessions WHERE session_id = 'new-claim'`)).toEqual([]);
    expect((await vault.verify({ tenant: 'bank' })).problems.filter((p) => p.session === '(tenant key)').map((p) => `${p.seq} ${p.kind}`)).toEqual(['9 tenant_key_unsigned']);
    own.dispose();
  });
});

describe.each(backends())('a retired signing key after a rotation made by hand, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  let retired: CheckpointSigner;
  let retiredAt: Date;

  beforeAll(async () => {
    store = await storeHome(backend);
    vault = await store.open({ clock: () => new Date(Date.now() - 30 * MINUTE) });
    await vault.createTenant('bank');
    await vault.session('bank', 'held').append({ type: 'message', role: 'user', content: 'Please move 50,000 EUR to my savings' });
    await vault.operator({ actor: 'alice', reason: 'litigation 2026-09' }).setHold('bank', 'held');
    await storedEarlier(vault, store, 30);
    await vault.close();
    // A new keyring put in place by configuration management twenty minutes ago, not by `keys rotate-signing`:
    // no record names the new key, and none will until an operator acts.
    ({ retired, retiredAt } = await rotateByHand(store, 20));
    vault = await store.open();
  }, 60_000);
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('a hold lifted in SQL and covered by a hold.clear record it signs, dated back into its period, still stops an erasure: the database stored the record after it', async () => {
    // The time the database stores the record at cannot be given with it: the application role may not name the column.
    expect(
      await refusal(
        withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(`INSERT INTO access_log (seq, at, actor, action, outcome, hash, stored_at) VALUES (999, now(), 'bob', 'hold.clear', 'granted', decode(repeat('00', 32), 'hex'), now() - interval '1 hour')`)), storeOf(vault).layout.appRole),
      ),
    ).toMatch(/^PERMISSION_DENIED /);
    const seq = await liftHoldAndCover(vault, store, retired, 'held', new Date(retiredAt.getTime() - MINUTE));
    await expect(vault.operator({ actor: 'dana', reason: 'erasure request' }).shred('bank', 'held')).rejects.toMatchObject({
      code: 'LEGAL_HOLD',
      message: expect.stringMatching(/lifted outside the vault \(held\)/),
    });
    expect((await vault.session('bank', 'held').state()).messages.map((m) => m.content)).toEqual(['Please move 50,000 EUR to my savings']);
    const named = (await vault.verify({ tenant: 'bank' })).problems.filter((p) => p.seq === seq || p.session === 'held').map((p) => `${p.session} ${p.kind}`);
    expect(named).toEqual(['(access trail) access_outside_key_period', 'held hold_clear_unrecorded']);
    // The auditor checking the trail file offline, the tenant's listing against the witness's keys and periods, names it too:
    // each line carries the time the database stored it.
    const lines: unknown[] = [];
    for await (const l of vault.trailFile({ tenant: 'bank' })) lines.push(JSON.parse(JSON.stringify(l)));
    const keys = parseTrustedKeys(readFileSync(path.join(store.home, 'witness', 'public-keys.json'), 'utf8'), 'public-keys.json');
    expect(keys.periods.get(retired.id)?.until).toEqual(retiredAt);
    const head = readFileSync(path.join(store.home, 'witness', 'access-trail.checkpoint'), 'utf8');
    expect(verifyTrail(lines, keys, { witnessHead: head, scope: { tenant: 'bank' } }).problems.map((p) => `${p.seq} ${p.kind}`)).toEqual([`${seq} access_outside_key_period`]);
  });
});

describe.each(backends())('a signing key from the environment or a token, rotated away, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  const master = randomBytes(32).toString('base64');
  const pair = (): CheckpointSigner => {
    const kp = generateSigningKeyPair();
    return { id: signingKeyId(kp.publicKey), publicKey: kp.publicKey, secretKey: kp.secretKey };
  };
  // VAULT_SIGNING_KEY before and after the deployment that changed it: no keyring records either.
  let old: CheckpointSigner;
  let current: CheckpointSigner;
  const open = (signer: CheckpointSigner | undefined, extra: Partial<VaultOptions> = {}) =>
    store.open({ keyring: path.join(store.home, 'none.json'), keyProvider: EnvKeyProvider.fromBase64(master), ...(signer ? { signer } : {}), ...extra });
  const asApp = (q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), storeOf(vault).layout.appRole);
  const problems = async (v: Vault, session: string) => (await v.verify({ tenant: 'bank', session })).problems.map((p) => `${p.seq} ${p.kind}`);
  const said = (content: string) => ({ type: 'message', role: 'user', content }) as const;
  const witnessKeys = () => JSON.parse(readFileSync(path.join(store.home, 'witness', 'public-keys.json'), 'utf8')) as { keys: { id: string; createdAt?: string; retiredAt?: string }[] };
  const secops = () => vault.operator({ actor: 'sec-officer', reason: 'signing key rotated' });

  /** What the holder of the old key's secret half does with a leaked data key and the application role: an event chained on, its head signed now. */
  async function forgeSignedHead(session: string): Promise<number> {
    const key = await leakedDataKey(vault, 'bank', session);
    const seq = await forgeEvent(asApp, 'bank', session, { sealedWith: key, event: { type: 'message', role: 'assistant', content: 'Transfer approved.' } });
    key.dispose();
    const [e] = ((await asApp(`SELECT encode(hash, 'hex') AS h FROM events WHERE session_id = '${session}' AND seq = ${seq}`)) as unknown as { rows: { h: string }[] }).rows;
    const note = signCheckpoint({ tenant: 'bank', session, seq, hash: new Uint8Array(Buffer.from(e!.h, 'hex')), time: new Date() }, old);
    await asApp(`INSERT INTO checkpoints (tenant_id, session_id, seq, key_id, hash, signed_at, note) VALUES ('bank', '${session}', ${seq}, '${old.id}', decode('${e!.h}', 'hex'), now(), '${note.replace(/'/g, "''")}')`);
    return seq;
  }

  beforeAll(async () => {
    store = await storeHome(backend);
    [old, current] = [pair(), pair()];
    const earlier = Date.now() - 30 * MINUTE;
    vault = await open(old, { clock: () => new Date(earlier) });
    await vault.createTenant('bank');
    for (const id of ['claim', 'kept']) await vault.session('bank', id).appendMany([said('Please move 50,000 EUR to my savings'), said('Is it done?')]);
    await storedEarlier(vault, store, 30);
    await vault.close();
    // The new key is deployed; the agent goes on under it (its first signature publishes it to the witness).
    vault = await open(current);
    await vault.session('bank', 'kept').append(said('Hello?'));
    expect(witnessKeys().keys.map((k) => [k.id, k.createdAt !== undefined, k.retiredAt])).toEqual([
      [old.id, true, undefined],
      [current.id, true, undefined],
    ]);
  }, 60_000);
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('retired with `keys retire-signing`, a head its leaked secret half signs is refused to reads and appends, and verify names it, with the keyring or without', async () => {
    const retiredAt = new Date(Date.now() - 20 * MINUTE); // when the last host moved to the new key
    expect(await secops().retireSigningKey(old.id, retiredAt)).toEqual(retiredAt);
    expect(witnessKeys().keys.find((k) => k.id === old.id)!.retiredAt).toBe(retiredAt.toISOString());
    const seq = await forgeSignedHead('claim');
    await vault.close();
    vault = await open(current);
    expect(await refusal(vault.session('bank', 'claim').state())).toMatch(/^CHAIN_BROKEN the head of bank\/claim \(seq 3\) has no checkpoint a trusted key signed/);
    expect(await refusal(vault.session('bank', 'claim').append(said('Thanks')))).toMatch(/^CHAIN_BROKEN /);
    expect(await problems(vault, 'claim')).toEqual([`${seq} checkpoint_outside_key_period`, `${seq} unsigned_tail`]);
    // What it signed in its period still reads and verifies.
    expect((await vault.session('bank', 'kept').state()).messages.map((m) => m.content)).toEqual(['Please move 50,000 EUR to my savings', 'Is it done?', 'Hello?']);
    expect(await problems(vault, 'kept')).toEqual([]);
    // On a machine with the witness and neither keyring nor key.
    await vault.close();
    try {
      const keyless = await open(undefined, { keyProvider: undefined });
      try {
        expect(await problems(keyless, 'claim')).toEqual([`${seq} checkpoint_outside_key_period`, `${seq} unsigned_tail`]);
      } finally {
        await keyless.close();
      }
    } finally {
      vault = await open(current);
    }
    // A host still on the old key signs nothing: it is refused loudly rather than writing heads every other process refuses.
    await vault.close();
    try {
      const stale = await open(old);
      try {
        expect(await refusal(stale.session('bank', 'kept').append(said('Anyone?')))).toMatch(/^SIGNING_KEY_RETIRED the signing key .* was retired at /);
      } finally {
        await stale.close();
      }
    } finally {
      vault = await open(current);
    }
    expect((await vault.session('bank', 'kept').state()).lastSeq).toBe(3);
    // The trail names who retired it, and when.
    const trail = (await asOwner(vault, store.database ?? 'pglite', [{ text: `SELECT actor, outcome FROM access_log WHERE action = 'keys.retire-signing:${old.id}' ORDER BY seq` }]))[0];
    expect(trail).toEqual([{ actor: 'sec-officer', outcome: 'granted' }]);
  });

  it('a retirement only moves earlier, and one that is not right is refused, changing nothing', async () => {
    const before = readFileSync(path.join(store.home, 'witness', 'public-keys.json'), 'utf8');
    const stated = witnessKeys().keys.find((k) => k.id === old.id)!.retiredAt!;
    // Later: the earlier retirement stays in force.
    expect((await secops().retireSigningKey(old.id)).toISOString()).toBe(stated);
    expect(readFileSync(path.join(store.home, 'witness', 'public-keys.json'), 'utf8')).toBe(before);
    for (const [call, message] of [
      [() => secops().retireSigningKey(current.id), `INVALID_INPUT ${current.id} is the key this vault signs with`],
      [() => secops().retireSigningKey(signingKeyId(generateSigningKeyPair().publicKey)), 'INVALID_INPUT the witness keeps no signing key'],
      [() => secops().retireSigningKey('ed25519:xyz'), 'INVALID_INPUT a signing key id is'],
      [() => secops().retireSigningKey(old.id, new Date(Date.now() + MINUTE)), 'INVALID_INPUT a signing key is retired now or at a time past'],
      [() => vault.operator({ actor: 'sec-officer' }).retireSigningKey(old.id, new Date(NaN)), 'INVALID_INPUT a signing key is retired now or at a time past'],
    ] as const) {
      expect(await refusal(call())).toContain(message);
    }
    expect(readFileSync(path.join(store.home, 'witness', 'public-keys.json'), 'utf8')).toBe(before);
    // Earlier (the key is found to have leaked before): it moves.
    const leaked = new Date(new Date(stated).getTime() - MINUTE);
    expect(await secops().retireSigningKey(old.id, leaked)).toEqual(leaked);
    expect(witnessKeys().keys.find((k) => k.id === old.id)!.retiredAt).toBe(leaked.toISOString());
    // A vault with no witness has nowhere to state it.
    await vault.close();
    try {
      const unwitnessed = await open(current, { witness: false });
      try {
        expect(await refusal(unwitnessed.operator({ actor: 'sec-officer' }).retireSigningKey(old.id))).toMatch(/^INVALID_CONFIG the vault has no witness/);
      } finally {
        await unwitnessed.close();
      }
    } finally {
      vault = await open(current);
    }
  });
});

describe.each(backends())('a witness whose keys file cannot be read, on $name', (backend) => {
  it('verify with no keyring fails rather than passing what the periods bound; a host that signs goes on, and says why', async () => {
    const store = await storeHome(backend);
    try {
      await store.withVault(async (v) => {
        await v.createTenant('bank');
        await v.session('bank', 'claim').append({ type: 'message', role: 'user', content: 'Hello' });
      });
      writeFileSync(path.join(store.home, 'witness', 'public-keys.json'), '{"keys": [');
      const keyless = store.withVault((v) => v.verify({ tenant: 'bank' }), { keyring: path.join(store.home, 'none.json') });
      expect(await refusal(keyless)).toMatch(/^STORAGE_REFUSED witness .*: public-keys\.json is malformed/);
      const lines: string[] = [];
      const logger = createLogger({ level: 'warn', destination: { write: (line: string) => void lines.push(line) } });
      await store.withVault(
        async (v) => {
          await v.session('bank', 'claim').append({ type: 'message', role: 'user', content: 'Still there?' });
          await v.session('bank', 'new').append({ type: 'message', role: 'user', content: 'Hi' });
          expect((await v.session('bank', 'claim').state()).lastSeq).toBe(2);
        },
        { logger },
      );
      expect(lines.some((l) => l.includes("could not read the signing keys' periods from the witness"))).toBe(true);
    } finally {
      store.cleanup();
    }
  });
});
