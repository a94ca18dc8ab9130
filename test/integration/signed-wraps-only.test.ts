import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault } from '../../src/vault';
import type { VaultDeps } from '../../src/vault/deps';
import { dataKeyAad, wrapKey } from '../../src/keys';
import { generateKey } from '../../src/crypto';
import { refusal } from '../support/refusal';
import { storeHome, type StoreHome } from '../support/store-home';
import { runCli } from '../support/cli';

/**
 * A tenant whose key wraps are all signed takes no other (drizzle/0051), against an
 * attacker who holds a tenant key version (leaked: the reason to rotate it) and the
 * application role's database credentials, by performing the attack. Before, they could
 * store a session row under an id an agent is about to use, with a data key of their own
 * choosing wrapped under the leaked version: the vault opened it, appended the customer's
 * content under that key, and the attacker read it. `verify` named the row
 * (session_key_unsigned), nothing refused it, and `keys rewrap` (the runbook's answer to a
 * leaked key) signed it over. Now the database stores no unsigned wrap in such a tenant,
 * and the vault opens no wrap no trusted key signed (WRAP_UNSIGNED): not to append, not to
 * read, not to rewrap, not to sign in `keys check --sign`.
 */
afterAll(dropCreatedDatabases);

const KEPT = /STORAGE_REFUSED.*a tenant whose key wraps are all signed keeps them so/;
const SIGNED_ONLY = /STORAGE_REFUSED.*the tenant's key wraps are all signed: a wrap is stored only with its signature/;

describe.each(backends())('a tenant whose key wraps are all signed, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  const as = (role: 'appRole' | 'operatorRole', tenant: string, q: string) =>
    withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(q)), storeOf(vault).layout[role]);
  const rows = async <T>(tenant: string, q: string) => ((await as('operatorRole', tenant, q)) as unknown as { rows: T[] }).rows;
  const signedOnly = async (tenant: string) => (await rows<{ on: boolean }>(tenant, `SELECT wraps_signed AS on FROM tenants`))[0]!.on;
  const problems = async (tenant: string, session?: string) =>
    (await vault.verify({ tenant, ...(session ? { session } : {}) })).problems.map((p) => `${p.session} ${p.seq} ${p.kind}`);
  const op = () => vault.operator({ actor: 'dana', reason: 'leaked key' });
  const customer = { type: 'message', role: 'user', content: 'my card number is 4111 1111 1111 1111' } as const;

  /**
   * What the attacker stores: a session row for `session` whose data key is theirs, wrapped
   * under the leaked tenant key version 1, with another session's signature copied beside
   * it (or none), as the application role.
   */
  async function preCreate(session: string, signature: 'copied' | 'none'): Promise<void> {
    const [tk] = await rows<{ master_key_id: string; w: string }>('bank', `SELECT master_key_id, encode(wrapped_key, 'hex') AS w FROM tenant_keys WHERE version = 1`);
    const provider = await (vault as unknown as { deps: VaultDeps }).deps.provider();
    const leaked = await provider.unwrapTenantKey({ tenant: 'bank', version: 1 }, tk!.master_key_id, Buffer.from(tk!.w, 'hex'));
    const theirs = generateKey();
    const wrapped = Buffer.from(wrapKey(leaked, theirs, dataKeyAad('bank', session, 1, 1))).toString('hex');
    leaked.dispose();
    const sig =
      signature === 'copied'
        ? `(SELECT wrap_seq FROM sessions WHERE session_id = 'legit'), (SELECT wrap_key_id FROM sessions WHERE session_id = 'legit'), (SELECT wrap_signature FROM sessions WHERE session_id = 'legit')`
        : 'NULL, NULL, NULL';
    await as(
      'appRole',
      'bank',
      `INSERT INTO sessions (tenant_id, session_id, created_at, data_key_version, tenant_key_version, wrapped_data_key, wrap_seq, wrap_key_id, wrap_signature, retain_floor)
       VALUES ('bank', '${session}', now(), 1, 1, decode('${wrapped}', 'hex'), ${sig}, '7y')`,
    );
    theirs.dispose();
  }

  beforeAll(async () => {
    store = await storeHome(backend);
    vault = await store.open();
    await vault.createTenant('bank');
    await vault.session('bank', 'legit').append({ type: 'message', role: 'user', content: 'hello' });
  }, 60_000);
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('a tenant created by a vault that signs takes signed wraps only, and no role clears it', async () => {
    expect(await signedOnly('bank')).toBe(true);
    expect(await refusal(as('operatorRole', 'bank', `UPDATE tenants SET wraps_signed = false`))).toMatch(KEPT);
    expect(await refusal(as('appRole', 'bank', `UPDATE tenants SET wraps_signed = false`))).toMatch(/permission denied/);
    // A tenant key version stored, or a wrap rewritten, without its signature: refused for every role that writes them.
    expect(await refusal(as('operatorRole', 'bank', `INSERT INTO tenant_keys (tenant_id, version, master_key_id, wrapped_key, state, created_at) VALUES ('bank', 9, 'local:1', decode(repeat('00', 72), 'hex'), 'active', now())`))).toMatch(SIGNED_ONLY);
    expect(await refusal(as('operatorRole', 'bank', `UPDATE sessions SET wrap_key_id = NULL, wrap_signature = NULL WHERE session_id = 'legit'`))).toMatch(SIGNED_ONLY);
    expect(await signedOnly('bank')).toBe(true);
    expect(await problems('bank')).toEqual([]);
  });

  it("a session pre-created under the attacker's key, as the application role, is refused by the database, or by the vault: the customer's content is not written under it", async () => {
    expect(await refusal(preCreate('victim', 'none'))).toMatch(SIGNED_ONLY);
    await preCreate('victim', 'copied');
    // The agent appends to the session it was given; the vault will not put it under that key.
    await expect(vault.session('bank', 'victim').append(customer)).rejects.toMatchObject({ code: 'WRAP_UNSIGNED' });
    await expect(vault.session('bank', 'victim').state()).rejects.toMatchObject({ code: 'WRAP_UNSIGNED' });
    expect(await rows('bank', `SELECT seq FROM events WHERE session_id = 'victim'`)).toEqual([]);
    expect(await problems('bank', 'victim')).toEqual(['victim 0 session_key_unsigned']);
    // The legitimate session is untouched.
    await expect(vault.session('bank', 'legit').append({ type: 'message', role: 'user', content: 'again' })).resolves.toMatchObject({ firstSeq: 2 });
  });

  it('`keys check` names the wrap and `--sign` does not sign it over', async () => {
    const before = await rows<{ sig: string }>('bank', `SELECT encode(wrap_signature, 'hex') AS sig FROM sessions WHERE session_id = 'victim'`);
    const r = await op().checkKeys('bank', { sign: true });
    expect(r).toMatchObject({ ok: false, unsigned: 0, signed: 0, signedOnly: 1, problems: [{ session: 'victim', kind: 'session_key_untrusted', code: 'WRAP_UNSIGNED' }] });
    expect(await rows('bank', `SELECT encode(wrap_signature, 'hex') AS sig FROM sessions WHERE session_id = 'victim'`)).toEqual(before);
    // The operator's CLI says what it is, exit 1.
    await vault.close(); // the embedded store serves one process at a time
    const env = { VAULT_HOME: store.home, ...(store.database ? { VAULT_DATABASE_URL: store.database } : {}) };
    const cli = await runCli(env, ['keys', 'check', 'bank', '--actor', 'dana', '--reason', 'leaked key']);
    vault = await store.open();
    expect([cli.code, cli.stdout]).toEqual([
      1,
      'WRAPS WRITTEN OUTSIDE THE VAULT: 1 tenant(s), 1 tenant key(s), 2 session key(s) checked\n' +
        '  1 of 1 tenant(s) take signed key wraps only\n' +
        '  bank/victim version 1: session_key_untrusted (WRAP_UNSIGNED)\n',
    ]);
  });

  it('the runbook for a leaked key (rotate, rewrap) does not sign it over either: it stops at it, and goes on once it is shredded', async () => {
    await op().rotateKey('bank');
    await expect(op().rewrap('bank')).rejects.toMatchObject({ code: 'WRAP_UNSIGNED' });
    expect((await rows<{ v: number }>('bank', `SELECT tenant_key_version AS v FROM sessions WHERE session_id = 'victim'`))[0]!.v).toBe(1);
    await op().shred('bank', 'victim');
    await expect(op().rewrap('bank')).resolves.toMatchObject({ primary: 2 });
    await op().retireKey('bank', 1);
    await op().destroyKey('bank', 1);
    expect(await problems('bank')).toEqual([]);
    await expect(vault.session('bank', 'legit').state()).resolves.toMatchObject({ lastSeq: 2 });
  });

  it('a tenant key version whose signature is not its own is listed by keys check and used by nothing: not to open, not to move to an HSM or KMS', async () => {
    await as('operatorRole', 'bank', `UPDATE tenant_keys SET wrap_signature = (SELECT wrap_signature FROM sessions WHERE session_id = 'legit') WHERE version = 2`);
    await vault.close();
    vault = await store.open(); // no tenant key held from before
    await expect(vault.session('bank', 'legit').state()).rejects.toMatchObject({ code: 'WRAP_UNSIGNED' });
    expect((await op().checkKeys('bank')).problems).toEqual([{ tenant: 'bank', version: 2, kind: 'tenant_key_untrusted', code: 'WRAP_UNSIGNED' }]);
    expect(await problems('bank')).toEqual(['(tenant key) 2 tenant_key_unsigned']);
    // A move to a key service stops at it before it asks the service anything.
    await vault.close();
    const asked: string[] = [];
    const service = {
      masterKeyId: 'kms:new',
      wrapTenantKey: () => (asked.push('wrap'), Promise.reject(new Error('not asked'))),
      unwrapTenantKey: () => (asked.push('unwrap'), Promise.reject(new Error('not asked'))),
    };
    vault = await store.open({ keyProvider: service });
    await expect(op().rotateMaster()).rejects.toMatchObject({ code: 'WRAP_UNSIGNED' });
    expect(asked).toEqual([]);
    await vault.close();
    vault = await store.open();
  });

  it('a tenant of older, unsigned wraps is used as before until `keys check --sign` signs them; then it takes signed wraps only, and a writer with signing off is refused', async () => {
    await vault.close();
    await store.withVault(async (unsigned) => {
      await unsigned.createTenant('old');
      await unsigned.session('old', 'before').append({ type: 'task', task: 'written with signing off' });
    }, { checkpoints: false });
    vault = await store.open();
    expect(await signedOnly('old')).toBe(false);
    // A vault that signs appends to it (its wraps open, and are the tenant's own).
    await expect(vault.session('old', 'before').append({ type: 'task', task: 'signed from here' })).resolves.toMatchObject({ firstSeq: 2 });
    // The rule is not set while an unsigned wrap stands.
    expect(await refusal(as('operatorRole', 'old', `UPDATE tenants SET wraps_signed = true`))).toMatch(/STORAGE_REFUSED.*still holds a key wrap no signing key signed/);
    await vault.close();
    const env = { VAULT_HOME: store.home, ...(store.database ? { VAULT_DATABASE_URL: store.database } : {}) };
    const cli = await runCli(env, ['keys', 'check', 'old', '--sign', '--actor', 'dana', '--reason', 'upgrade', '--json']);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ ok: true, unsigned: 2, signed: 2, signedOnly: 1 });
    const text = await runCli(env, ['keys', 'check', '--actor', 'dana', '--reason', 'upgrade']);
    expect(text.stdout).toContain('\n  2 of 2 tenant(s) take signed key wraps only\n');
    await expect(
      store.withVault((unsigned) => unsigned.session('old', 'after').append({ type: 'task', task: 'signing off again' }), { checkpoints: false }),
    ).rejects.toMatchObject({ code: 'STORAGE_REFUSED' });
    vault = await store.open();
    expect(await signedOnly('old')).toBe(true);
    // Every wrap verifies; what is left is the tenant's creation, recorded by the vault with signing off.
    expect(await problems('old')).toEqual([expect.stringMatching(/^\(access trail\) \d+ access_unsigned$/)]);
  });
});
