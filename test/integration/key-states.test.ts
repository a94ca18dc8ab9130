import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault } from '../../src/vault';
import { refusal } from '../support/refusal';
import { storeHome, type StoreHome } from '../support/store-home';

/**
 * A tenant key version's state against the operator role's own database credentials,
 * stolen, by performing the attacks. A version goes one way only: primary, active,
 * retired, destroyed (docs/key-management.md), and a tenant has a primary until all of
 * its versions are destroyed. Before drizzle/0050_key_states_forward.sql only the vault
 * kept to it: the role could make a version rotated away from (say after it was suspected
 * compromised) primary again, so that every new session's key was wrapped under it, with
 * a wrap the vault itself signed; or give a destroyed version its wrapped bytes back; or
 * step the primary down alone, leaving the tenant unable to create a session or rotate.
 * Now the database refuses a state going back, a key given back to a destroyed version,
 * and (at commit) a tenant left with no primary.
 */
afterAll(dropCreatedDatabases);

const ONE_WAY = /STORAGE_REFUSED.*a tenant key version's state goes one way only/;
const COMES_BACK = /STORAGE_REFUSED.*a destroyed session key does not come back/;
const KEEPS_PRIMARY = /STORAGE_REFUSED.*a tenant keeps a primary key version until all of its versions are destroyed/;

describe.each(backends())('tenant key states go one way, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  const asOperator = (q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), storeOf(vault).layout.operatorRole);
  const op = () => vault.operator({ actor: 'dana', reason: 'key compromise' });
  const versionOf = async (session: string) =>
    ((await asOperator(`SELECT tenant_key_version AS v FROM sessions WHERE session_id = '${session}'`)) as unknown as { rows: { v: number }[] }).rows[0]!.v;

  beforeAll(async () => {
    store = await storeHome(backend);
    vault = await store.open();
    await vault.createTenant('bank');
    await vault.session('bank', 'before').append({ type: 'message', role: 'user', content: 'under version 1' });
    // Version 1 is suspected compromised: rotated away from, its sessions rewrapped, retired.
    await op().rotateKey('bank');
    await op().rewrap('bank');
  }, 60_000);
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('an active version rotated away from cannot be made primary again: new sessions stay under the new one', async () => {
    // The new primary stepped down first (one primary a tenant), then the old one put back.
    expect(await refusal(asOperator(`UPDATE tenant_keys SET state = 'active' WHERE version = 2`))).toMatch(KEEPS_PRIMARY);
    expect(await refusal(asOperator(`UPDATE tenant_keys SET state = 'primary' WHERE version = 1`))).toMatch(ONE_WAY);
    // Both in one transaction, as the vault's own rotation steps down and stores: the old one cannot come back.
    const both = withTenant(storeOf(vault).db, 'bank', 'attack', async (tx) => {
      await tx.execute(sql.raw(`UPDATE tenant_keys SET state = 'active' WHERE version = 2`));
      await tx.execute(sql.raw(`UPDATE tenant_keys SET state = 'primary' WHERE version = 1`));
    }, storeOf(vault).layout.operatorRole);
    expect(await refusal(both)).toMatch(ONE_WAY);
    await vault.close();
    vault = await store.open(); // nothing cached: the primary is read from the rows
    await vault.session('bank', 'after').append({ type: 'message', role: 'user', content: 'a new customer' });
    expect(await versionOf('after')).toBe(2);
  });

  it('a retired version cannot become active or primary again', async () => {
    await op().retireKey('bank', 1);
    expect(await refusal(asOperator(`UPDATE tenant_keys SET state = 'active' WHERE version = 1`))).toMatch(ONE_WAY);
    expect(await refusal(asOperator(`UPDATE tenant_keys SET state = 'primary' WHERE version = 1`))).toMatch(ONE_WAY);
    expect((await vault.keys('bank')).map((k) => `${k.version}:${k.state}`)).toEqual(['1:retired', '2:primary']);
  });

  it('a destroyed version does not get its wrapped bytes or another state back', async () => {
    const [kept] = ((await asOperator(`SELECT encode(wrapped_key, 'hex') AS w FROM tenant_keys WHERE version = 1`)) as unknown as { rows: { w: string }[] }).rows;
    await op().destroyKey('bank', 1);
    expect(await refusal(asOperator(`UPDATE tenant_keys SET wrapped_key = decode('${kept!.w}', 'hex') WHERE version = 1`))).toMatch(ONE_WAY);
    expect(await refusal(asOperator(`UPDATE tenant_keys SET wrapped_key = decode('${kept!.w}', 'hex'), state = 'retired' WHERE version = 1`))).toMatch(ONE_WAY);
    expect((await vault.keys('bank')).map((k) => `${k.version}:${k.state}`)).toEqual(['1:destroyed', '2:primary']);
  });

  it("a shredded session's key does not come back: its wrapped bytes, copied before the shred, are refused", async () => {
    await vault.session('bank', 'erased').append({ type: 'message', role: 'user', content: 'please forget me' });
    const [kept] = ((await asOperator(`SELECT encode(wrapped_data_key, 'hex') AS w FROM sessions WHERE session_id = 'erased'`)) as unknown as { rows: { w: string }[] }).rows;
    await op().shred('bank', 'erased');
    // At the next place in its wrap sequence, as a rewrap would write it (at the same place 0049 refuses it already).
    expect(await refusal(asOperator(`UPDATE sessions SET wrapped_data_key = decode('${kept!.w}', 'hex'), wrap_seq = wrap_seq + 1 WHERE session_id = 'erased'`))).toMatch(COMES_BACK);
    await vault.close();
    vault = await store.open();
    await expect(vault.session('bank', 'erased').state()).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
  });

  it("the vault's own moves go on: rotation, retirement, destruction, and a tenant's shred from any state", async () => {
    await op().rotateKey('bank');
    await op().rewrap('bank');
    await op().retireKey('bank', 2);
    await op().destroyKey('bank', 2);
    await op().rotateKey('bank'); // 3 active, 4 primary
    await expect(op().shred('bank')).resolves.toMatchObject({ tenantKeysDestroyed: true });
    expect((await vault.keys('bank')).map((k) => k.state)).toEqual(['destroyed', 'destroyed', 'destroyed', 'destroyed']);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });
});
