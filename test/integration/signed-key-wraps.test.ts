import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault } from '../../src/vault';
import { refusal } from '../support/refusal';
import { storeHome, type StoreHome } from '../support/store-home';
import { runCli } from '../support/cli';
import { asOwner } from '../support/owner';

/**
 * Key wraps against the operator role's own database credentials, stolen, with no keyring,
 * by performing the attacks. The role may change session keys and tenant key versions (a
 * rewrap, a master rotation and a move to an HSM must), so before
 * drizzle/0049_signed_key_wraps.sql it could write other bytes over a session's wrapped
 * key, or over a tenant key version, or put back an earlier wrap under a master key since
 * removed: the content was erased with no marker, no reason and no trail record, and
 * `verify` (which needs no key) saw nothing. Now every wrap the vault writes carries a
 * signature by the checkpoint key over what it wraps, for whom, and its place in the
 * wrap's sequence; `verify` names a wrap no trusted key signed, and the database refuses
 * a wrap's sequence going back, so an earlier signed wrap cannot be put back.
 */
afterAll(dropCreatedDatabases);

const GOES_BACK = /STORAGE_REFUSED.*a key wrap's sequence only moves forward/;

describe.each(backends())('key wraps are signed, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  const asOperatorIn = (tenant: string, q: string) => withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(q)), storeOf(vault).layout.operatorRole);
  const asOperator = (q: string) => asOperatorIn('bank', q);
  const rows = async <T>(q: string) => ((await asOperator(q)) as unknown as { rows: T[] }).rows;
  const problemsIn = async (tenant: string, session?: string) =>
    (await vault.verify({ tenant, ...(session ? { session } : {}) })).problems.map((p) => `${p.session} ${p.seq} ${p.kind}`);
  const problems = (session?: string) => problemsIn('bank', session);
  const op = () => vault.operator({ actor: 'dana', reason: 'key maintenance' });
  /** Tenant key version 2 as its signed wrap stood before the master rotation, to put back. */
  let beforeRotation: { w: string; wrap_seq: number; wrap_key_id: string; sig: string; master_key_id: string };

  beforeAll(async () => {
    store = await storeHome(backend);
    vault = await store.open();
    await vault.createTenant('bank');
    for (const s of ['loan', 'claim', 'card', 'spare', 'copy']) await vault.session('bank', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
    // A tenant from before drizzle/0051, which does not take signed wraps only (set so by the
    // owner with triggers off, as no role may clear it): there a signature can be stripped.
    await vault.createTenant('old');
    await asOwner(vault, store.database ?? 'pglite', [{ text: `UPDATE tenants SET wraps_signed = false WHERE tenant_id = 'old'` }]);
    await vault.session('old', 'card').append({ type: 'message', role: 'user', content: 'customer card' });
  }, 60_000);
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it("the vault's own wraps verify clean: creation, rotation, rewrap and a master rotation", async () => {
    expect(await problems()).toEqual([]);
    await op().rotateKey('bank');
    await vault.session('bank', 'late').append({ type: 'message', role: 'user', content: 'after rotation' });
    await op().rewrap('bank');
    beforeRotation = (await rows<typeof beforeRotation>(`SELECT encode(wrapped_key, 'hex') AS w, wrap_seq, wrap_key_id, encode(wrap_signature, 'hex') AS sig, master_key_id FROM tenant_keys WHERE version = 2`))[0]!;
    await op().rotateMaster();
    expect(await problems()).toEqual([]);
  });

  it('other bytes written over a session key, by the operator role, are named; the session no longer opens', async () => {
    // At the same place in the wrap sequence the database refuses them; at the next, it cannot tell them from a rewrap.
    expect(await refusal(asOperator(`UPDATE sessions SET wrapped_data_key = decode(repeat('00', 72), 'hex') WHERE session_id = 'loan'`))).toMatch(GOES_BACK);
    await asOperator(`UPDATE sessions SET wrapped_data_key = decode(repeat('00', 72), 'hex'), wrap_seq = wrap_seq + 1 WHERE session_id = 'loan'`);
    await vault.close();
    vault = await store.open();
    // Not opened at all: no trusted key signed the wrap, in a tenant whose wraps are all signed (drizzle/0051).
    await expect(vault.session('bank', 'loan').state()).rejects.toMatchObject({ code: 'WRAP_UNSIGNED' });
    expect(await problems('loan')).toEqual(['loan 1 session_key_unsigned']);
  });

  it("another session's wrap and signature copied over a session key are named", async () => {
    const copy = `UPDATE sessions s SET wrapped_data_key = o.wrapped_data_key, wrap_seq = o.wrap_seq, wrap_key_id = o.wrap_key_id, wrap_signature = o.wrap_signature FROM sessions o WHERE s.session_id = 'copy' AND o.session_id = 'spare' AND o.tenant_id = s.tenant_id`;
    expect(await refusal(asOperator(copy))).toMatch(GOES_BACK); // both were rewrapped once: the same place
    await asOperator(copy.replace('wrap_seq = o.wrap_seq', 'wrap_seq = s.wrap_seq + 1'));
    expect(await problems('copy')).toEqual(['copy 1 session_key_unsigned']);
  });

  it('a signature stripped from a wrap is refused where the tenant takes signed wraps only, and named where it does not', async () => {
    const strip = `UPDATE sessions SET wrap_key_id = NULL, wrap_signature = NULL WHERE session_id = 'card'`;
    expect(await refusal(asOperator(strip))).toMatch(/STORAGE_REFUSED.*a wrap is stored only with its signature/);
    expect(await problems('card')).toEqual([]);
    await asOperatorIn('old', strip);
    expect(await problemsIn('old', 'card')).toEqual(['card 1 session_key_unsigned']);
  });

  it('`keys check --sign` signs a wrap that opens and carries no signature, and none that does not open; recorded as keys.sign', async () => {
    await vault.close(); // the embedded store serves one process at a time
    const env = { VAULT_HOME: store.home, ...(store.database ? { VAULT_DATABASE_URL: store.database } : {}) };
    // The stripped one, in the tenant from before 0051; signed, that tenant takes signed wraps only from then on.
    const text = await runCli(env, ['keys', 'check', 'old', '--actor', 'dana', '--reason', 'upgrade']);
    expect(text.stdout).toContain('\n  1 wrap(s) open but carry no trusted signature; verify names them: `keys check --sign` signs them\n');
    const old = await runCli(env, ['keys', 'check', 'old', '--sign', '--actor', 'dana', '--reason', 'upgrade', '--json']);
    expect([old.code, JSON.parse(old.stdout)]).toMatchObject([0, { ok: true, unsigned: 1, signed: 1, signedOnly: 1 }]);
    const cli = await runCli(env, ['keys', 'check', 'bank', '--sign', '--actor', 'dana', '--reason', 'upgrade', '--json']);
    vault = await store.open();
    expect(cli.code).toBe(1); // loan and copy do not open
    expect(JSON.parse(cli.stdout)).toMatchObject({ ok: false, unsigned: 0, signed: 0, problems: [{ session: 'copy', code: 'DECRYPTION_FAILED' }, { session: 'loan', code: 'DECRYPTION_FAILED' }] });
    expect(await problemsIn('old', 'card')).toEqual([]);
    expect(await problems()).toEqual(['copy 1 session_key_unsigned', 'loan 1 session_key_unsigned']);
    const records = [];
    for await (const r of vault.accessLog({ tenant: 'bank' })) if (r.action.startsWith('keys.')) records.push(`${r.action}:${r.actor}:${r.outcome}`);
    expect(records.at(-1)).toBe('keys.sign:dana:granted');
    // A vault that signs nothing has nothing to sign them with: refused, typed, nothing written.
    await vault.close();
    vault = await store.open({ checkpoints: false });
    const trail = async () => (await rows<{ n: number }>(`SELECT count(*)::int AS n FROM access_log`))[0]!.n;
    const recorded = await trail();
    await expect(op().checkKeys('bank', { sign: true })).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    expect(await trail()).toBe(recorded);
    await vault.close();
    vault = await store.open();
  });

  it("a session's earlier signed wrap cannot be put back: its sequence would go back", async () => {
    const [before] = await rows<{ wrap_seq: number }>(`SELECT wrap_seq FROM sessions WHERE session_id = 'claim'`);
    expect(before!.wrap_seq).toBeGreaterThan(1); // rewrapped in the first test
    expect(await refusal(asOperator(`UPDATE sessions SET wrap_seq = 1 WHERE session_id = 'claim'`))).toMatch(GOES_BACK);
    expect(await refusal(asOperator(`UPDATE sessions SET wrap_seq = NULL WHERE session_id = 'claim'`))).toMatch(GOES_BACK);
    expect(await refusal(asOperator(`UPDATE sessions SET wrapped_data_key = decode(repeat('00', 72), 'hex') WHERE session_id = 'claim'`))).toMatch(GOES_BACK);
    expect(await problems('claim')).toEqual([]);
  });

  it('other bytes written over a tenant key version are named, and an earlier wrap cannot be put back', async () => {
    const [v] = await rows<{ version: number; wrap_seq: number }>(`SELECT version, wrap_seq FROM tenant_keys WHERE state = 'primary'`);
    expect(v!.wrap_seq).toBeGreaterThan(1); // rewrapped by the master rotation
    // Its wrap under the master key the rotation removed, put back whole, signature and all: once the tenant's content.
    const b = beforeRotation;
    const putBack = `UPDATE tenant_keys SET wrapped_key = decode('${b.w}', 'hex'), wrap_seq = ${b.wrap_seq}, wrap_key_id = '${b.wrap_key_id}', wrap_signature = decode('${b.sig}', 'hex'), master_key_id = '${b.master_key_id}' WHERE version = 2`;
    expect(v!.version).toBe(2);
    expect(await refusal(asOperator(putBack))).toMatch(GOES_BACK);
    expect(await refusal(asOperator(`UPDATE tenant_keys SET wrap_seq = 1 WHERE version = ${v!.version}`))).toMatch(GOES_BACK);
    expect(await refusal(asOperator(`UPDATE tenant_keys SET wrapped_key = decode(repeat('00', 72), 'hex') WHERE version = ${v!.version}`))).toMatch(GOES_BACK);
    await asOperator(`UPDATE tenant_keys SET wrapped_key = decode(repeat('00', 72), 'hex'), wrap_seq = wrap_seq + 1 WHERE version = ${v!.version}`);
    expect(await problems()).toEqual(expect.arrayContaining([`(tenant key) ${v!.version} tenant_key_unsigned`]));
  });
});
