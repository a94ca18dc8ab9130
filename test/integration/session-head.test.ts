import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault } from '../../src/vault';
import { refusal } from '../support/refusal';

/**
 * A session's head (sessions.head_seq, head_hash), which every append checks and moves,
 * against the agent's own database credentials (the application role's, stolen, no
 * keyring), by performing the attacks. Before drizzle/0047_head_forward.sql the role could
 * set the head back to an earlier event, after which every append collided with the
 * events stored after it and gave up (APPEND_CONTENDED), or write another hash at the
 * same seq for the next append to chain onto.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())("a session's head, on $name", (backend) => {
  let vault: Vault;
  let close: () => Promise<void>;
  const asApp = (q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), storeOf(vault).layout.appRole);
  const hashAt = (seq: number) => `(SELECT hash FROM events WHERE session_id = 'claim' AND seq = ${seq})`;

  beforeAll(async () => {
    ({ vault, close } = await testVault(backend, {}));
    await vault.createTenant('bank');
    for (let i = 1; i <= 3; i++) await vault.session('bank', 'claim').append({ type: 'message', role: 'user', content: `message ${i}` });
  }, 60_000);
  afterAll(() => close());

  it('the application role cannot move it back to an earlier event, nor write another hash at its seq; appends go on', async () => {
    expect(await refusal(asApp(`UPDATE sessions SET head_seq = 2, head_hash = ${hashAt(2)} WHERE session_id = 'claim'`))).toMatch(/STORAGE_REFUSED.*only moves forward/);
    expect(await refusal(asApp(`UPDATE sessions SET head_hash = ${hashAt(2)} WHERE session_id = 'claim'`))).toMatch(/only moves forward/);
    expect(await refusal(asApp(`UPDATE sessions SET head_seq = 0, head_hash = NULL WHERE session_id = 'claim'`))).toMatch(/only moves forward/);
    await expect(vault.session('bank', 'claim').append({ type: 'message', role: 'user', content: 'message 4' })).resolves.toMatchObject({ firstSeq: 4 });
    expect((await vault.session('bank', 'claim').state()).messages).toHaveLength(4);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });
});
