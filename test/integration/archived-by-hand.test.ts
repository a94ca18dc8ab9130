import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeHome, type StoreHome } from '../support/store-home';
import { asOwner } from '../support/owner';
import { type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { refusal } from '../support/refusal';

/**
 * A session set archived by hand, by performing the attack as the retention role (the
 * retention job's stolen database credentials: no keyring, no access to the archive
 * store). The status guard let the role set any session's status, and 0075's clearing
 * function deletes every row an archived session has in the table (an archived session
 * should hold none): one UPDATE and one call deleted every event of an active session,
 * with no archive record, no object and no hold checked; the UPDATE alone left it archived
 * with no object, its events out of reach of reads and restores. Since 0077 a session
 * becomes archived only inside the release function, and the clearing function needs an
 * archive record at the session's head.
 */
afterAll(dropCreatedDatabases);

const ARCHIVED_BY_RELEASE = /a session is archived only by the release function/;

describe.each(backends())('a session set archived by hand, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  const as = (role: string, q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), role);
  const job = () => storeOf(vault).layout.retentionRole;
  const hotEvents = async (id: string) => Number(rowsOf<{ n: string }>(await as(job(), `SELECT count(*) AS n FROM events WHERE session_id = '${id}'`))[0]!.n);
  const status = async (id: string) => rowsOf<{ status: string }>(await as(job(), `SELECT status FROM sessions WHERE session_id = '${id}'`))[0]?.status;

  beforeAll(async () => {
    store = await storeHome(backend);
    vault = await store.open();
    await vault.createTenant('bank');
    for (const id of ['ledger', 'held', 'quiet']) {
      await vault.session('bank', id).append({ type: 'message', role: 'user', content: `move the money (${id})` });
      await vault.session('bank', id).append({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amount: 9000 } });
    }
    await vault.operator({ actor: 'legal', reason: 'case 7' }).setHold('bank', 'held');
  });
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('as the retention role: an active session is not set archived, and its events are not cleared', async () => {
    // The attack in one statement: the status by hand, then the clearing function on the "archived" session.
    for (const id of ['ledger', 'held']) {
      const attack = `WITH a AS (UPDATE sessions SET status = 'archived' WHERE session_id = '${id}' RETURNING 1) SELECT session_vault_clear_stray_events('bank', '${id}') FROM a`;
      expect(await refusal(as(job(), attack))).toMatch(ARCHIVED_BY_RELEASE);
      expect(await refusal(as(job(), `UPDATE sessions SET status = 'archived' WHERE session_id = '${id}'`))).toMatch(ARCHIVED_BY_RELEASE);
      expect(await refusal(as(job(), `DO $$ BEGIN UPDATE sessions SET status = 'archived' WHERE session_id = '${id}'; END $$`))).toMatch(ARCHIVED_BY_RELEASE);
      expect(await status(id)).toBe('active');
      expect(await hotEvents(id)).toBe(2);
    }
    // Nor the operator role, its member, nor a new session row born archived.
    expect(await refusal(as(storeOf(vault).layout.operatorRole, `UPDATE sessions SET status = 'archived' WHERE session_id = 'ledger'`))).toMatch(ARCHIVED_BY_RELEASE);
    const born = `INSERT INTO sessions (tenant_id, session_id, agent, status, created_at, head_seq, data_key_version, tenant_key_version, wrapped_data_key, wrap_seq, wrap_key_id, wrap_signature, retain_floor)
      SELECT tenant_id, 'claim-9001', agent, 'archived', now(), 0, data_key_version, tenant_key_version, wrapped_data_key, wrap_seq, wrap_key_id, wrap_signature, retain_floor FROM sessions WHERE session_id = 'ledger'`;
    expect(await refusal(as(job(), born))).toMatch(/a new session is active/);
    expect(await status('claim-9001')).toBeUndefined();
    const state = await vault.operator({ actor: 'ops', reason: 'check' }).state('bank', 'ledger');
    expect(state.messages).toEqual([expect.objectContaining({ content: 'move the money (ledger)' })]);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });

  it("the vault's own archive still archives, and the clearing function deletes nothing of an archived session with no archive record at its head", async () => {
    await vault.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'quiet');
    expect(await status('quiet')).toBe('archived');
    expect(await hotEvents('quiet')).toBe(0);
    // A session archived by hand before 0077 (made here as the owner, triggers off): its rows are its own, not planted ones.
    await asOwner(vault, store.database ?? 'memory://', [{ text: `UPDATE sessions SET status = 'archived' WHERE tenant_id = 'bank' AND session_id = 'ledger'` }]);
    expect(Number(rowsOf<{ n: string }>(await as(job(), `SELECT session_vault_clear_stray_events('bank', 'ledger') AS n`))[0]!.n)).toBe(0);
    expect(await hotEvents('ledger')).toBe(2);
  });
});
