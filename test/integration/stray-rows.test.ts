import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeHome, type StoreHome } from '../support/store-home';
import { type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { refusal } from '../support/refusal';

/**
 * Rows planted in an archived session, by performing the attack as the application role
 * (the agents' database credentials, no keyring). An archived session's events are in its
 * archive object and the table holds none of them; the role may insert into events (it
 * appends), and nothing stopped a row for an archived session. One planted row made every
 * restore of it fail on a duplicate key, `hold set`'s and the retention run's included:
 * a session archived before its legal hold could never be brought back under it, its
 * evidence left to the archive store alone, and `verify` saw nothing. Since 0075 a
 * restore deletes such rows first (none can be the session's own), and `verify` names
 * them (`stray_events`).
 */
afterAll(dropCreatedDatabases);

describe.each(backends())('rows planted in an archived session, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  let now = Date.parse('2026-03-02T09:00:00Z');
  const clock = () => new Date(now);
  const DAY = 86_400_000;
  const as = (role: string, q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), role);
  const app = () => storeOf(vault).layout.appRole;
  const hotEvents = async (id: string) => Number(rowsOf<{ n: string }>(await as(app(), `SELECT count(*) AS n FROM events WHERE session_id = '${id}'`))[0]!.n);
  const clear = async (id: string) => Number(rowsOf<{ n: string }>(await as(app(), `SELECT session_vault_clear_stray_events('bank', '${id}') AS n`))[0]!.n);
  // A row of the thief's own, at seq 1: a ciphertext no key opens, a hash of zeros.
  const plant = (id: string, seq = 1) =>
    as(app(), `INSERT INTO events (tenant_id, session_id, seq, type, at, correlation_id, key_version, nonce, ciphertext, hash)
               VALUES ('bank', '${id}', ${seq}, 'message', now(), 'x', 1, decode(repeat('00', 24), 'hex'), '\\x00'::bytea, decode(repeat('00', 32), 'hex'))`);

  beforeAll(async () => {
    store = await storeHome(backend, { clock });
    vault = await store.open();
    await vault.createTenant('bank');
    await vault.operator({ actor: 'ops', reason: 'policy' }).setRetention('bank', { archiveAfter: '1d', retain: '2d' });
    for (const id of ['claim', 'quiet', 'busy', 'gone']) {
      await vault.session('bank', id).append({ type: 'message', role: 'user', content: `please move the money (${id})` });
      await vault.session('bank', id).append({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amount: 9000 } });
    }
    now += 40 * DAY;
    for (const id of ['claim', 'quiet', 'gone']) await vault.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', id);
    await vault.operator({ actor: 'ops', reason: 'retention' }).purge('bank', 'gone');
  });
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('as the application role: a row planted in an archived session is named by verify, and blocks neither the hold\'s restore nor reads', async () => {
    expect(await refusal(plant('claim'))).toBe('not refused'); // the role appends: the database takes the row
    expect(await hotEvents('claim')).toBe(1);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([{ tenant: 'bank', session: 'claim', seq: 2, kind: 'stray_events' }]);
    // The legal desk places a hold: the session comes back to the database with its own events, the planted row gone.
    expect(await vault.operator({ actor: 'legal', reason: 'case 7' }).setHold('bank', 'claim')).toBe(true);
    expect((await vault.sessionInfo('bank', 'claim')).status).toBe('active');
    expect(await hotEvents('claim')).toBe(2);
    const state = await vault.operator({ actor: 'legal', reason: 'case 7' }).state('bank', 'claim');
    expect(state.messages).toEqual([expect.objectContaining({ content: 'please move the money (claim)' })]);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });

  it('an operator\'s restore clears planted rows too, whatever their seqs', async () => {
    await plant('quiet', 1);
    await plant('quiet', 7);
    expect(await vault.operator({ actor: 'ops', reason: 'ticket 3' }).restore('bank', 'quiet')).toBe(true);
    expect(await hotEvents('quiet')).toBe(2);
    expect((await vault.verify({ tenant: 'bank', session: 'quiet' })).problems).toEqual([]);
  });

  it("the clearing function deletes nothing of a session that is not archived, and only from the top level", async () => {
    // An active session's rows are its own: nothing is deleted.
    expect(await clear('busy')).toBe(0);
    expect(await hotEvents('busy')).toBe(2);
    // Called from a DO block (another frame on the stack), or a DELETE with the flag set by hand: refused, as the release's guard refuses them.
    await vault.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'busy');
    await plant('busy');
    expect(await refusal(as(app(), `DO $$ BEGIN PERFORM session_vault_clear_stray_events('bank', 'busy'); END $$`))).toMatch(/events rows are append-only \(DELETE refused\)/);
    const owner = storeOf(vault).layout.operatorRole;
    const byHand = `WITH flag AS (SELECT set_config('vault.releasing', 'bank/busy', true) AS f) DELETE FROM events WHERE session_id = 'busy' AND EXISTS (SELECT 1 FROM flag)`;
    expect(await refusal(as(owner, byHand))).toMatch(/events rows are append-only \(DELETE refused\)|permission denied/);
    expect(await hotEvents('busy')).toBe(1);
    expect(await clear('busy')).toBe(1); // from the top level, of an archived session: its planted row
    expect(await hotEvents('busy')).toBe(0);
  });

  it('a row planted in a purged session is named by verify too', async () => {
    await plant('gone');
    expect((await vault.verify({ tenant: 'bank', session: 'gone' })).problems).toEqual([{ tenant: 'bank', session: 'gone', seq: 2, kind: 'stray_events' }]);
  });
});
