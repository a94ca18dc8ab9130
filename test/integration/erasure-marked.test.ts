import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault } from '../../src/vault';
import { refusal } from '../support/refusal';
import { storeHome, type StoreHome } from '../support/store-home';
import { forgeEvent } from '../support/forged-event';

/**
 * Erasure (a session's data key destroyed) against the operator role's own database
 * credentials, stolen, with no keyring, by performing the attacks. Before
 * drizzle/0048_erasure_marked.sql the role could null a session's wrapped key in SQL, or
 * destroy the tenant key version that still wrapped it: the content was erased with no
 * `key_shredded` record in its chain, no reason and no trail record, within any retention
 * floor (only a legal hold stopped it). Now the database refuses a session key destroyed
 * unless the session's head is its `key_shredded` marker, and a tenant key version
 * destroyed while a session key it wraps is still there. What the role can still do, write
 * a marker itself first, `verify` names: no signing key signed it.
 */
afterAll(dropCreatedDatabases);

const MARKER_FIRST = /STORAGE_REFUSED.*a session's key is destroyed only under its key_shredded marker/;
const WRAPS_SESSIONS = /STORAGE_REFUSED.*still wraps/;

describe.each(backends())('an erasure leaves its marker, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  const asOperator = (q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), storeOf(vault).layout.operatorRole);
  const problems = async (session: string) => (await vault.verify({ tenant: 'bank', session })).problems.map((p) => `${p.seq} ${p.kind}`);

  beforeAll(async () => {
    store = await storeHome(backend);
    vault = await store.open();
    await vault.createTenant('bank');
    for (const s of ['loan', 'claim', 'card', 'spare']) await vault.session('bank', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
  }, 60_000);
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('the operator role cannot destroy a session key in SQL without the marker: the session still reads', async () => {
    expect(await refusal(asOperator(`UPDATE sessions SET wrapped_data_key = NULL WHERE session_id = 'loan'`))).toMatch(MARKER_FIRST);
    expect((await vault.session('bank', 'loan').state()).messages).toHaveLength(1);
    expect(await problems('loan')).toEqual([]);
  });

  it('the operator role cannot destroy the tenant key version that still wraps session keys', async () => {
    expect(await refusal(asOperator(`UPDATE tenant_keys SET state = 'destroyed', wrapped_key = NULL WHERE version = 1`))).toMatch(WRAPS_SESSIONS);
    expect(await refusal(asOperator(`UPDATE tenant_keys SET wrapped_key = NULL WHERE version = 1`))).toMatch(WRAPS_SESSIONS);
    // Scoped to another tenant mid-statement, so that the check would see none of bank's sessions: the row is then out of scope.
    expect(await refusal(asOperator(`UPDATE tenant_keys SET wrapped_key = NULL WHERE version = 1 AND set_config('vault.tenant', 'other', true) IS NOT NULL`))).toMatch(/STORAGE_REFUSED.*row-level security/);
    await vault.close();
    vault = await store.open(); // no tenant key cached: it is unwrapped from the row again
    expect((await vault.session('bank', 'claim').state()).messages).toHaveLength(1);
  });

  it('the operator role that writes a marker itself first erases the session, and verify names the marker no key signed', async () => {
    const seq = await forgeEvent(asOperator, 'bank', 'card', 'shred-marker');
    await asOperator(`UPDATE sessions SET wrapped_data_key = NULL WHERE session_id = 'card'`);
    await expect(vault.session('bank', 'card').state()).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    expect(await problems('card')).toEqual([`${seq} unsigned_tail`]);
  });

  it("the vault's own erasures go on: a session shred, and the whole tenant's", async () => {
    const op = vault.operator({ actor: 'dana', reason: 'erasure request' });
    await expect(op.shred('bank', 'loan')).resolves.toEqual({ sessions: 1, tenantKeysDestroyed: false });
    expect(await problems('loan')).toEqual([]);
    await expect(op.shred('bank')).resolves.toEqual({ sessions: 2, tenantKeysDestroyed: true });
    expect(await problems('claim')).toEqual([]);
    await expect(vault.session('bank', 'spare').state()).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
  });
});
