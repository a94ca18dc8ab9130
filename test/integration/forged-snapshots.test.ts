import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { createLogger } from '../../src/observability';
import type { Vault } from '../../src/vault';
import { storeHome, type StoreHome } from '../support/store-home';
import { refusal } from '../support/refusal';
import { asOwner } from '../support/owner';

/**
 * Snapshots as the application role stores them, by performing the attack (drizzle/0053).
 * The role may store snapshots, as the vault writes them with it; before, the database took
 * any row. With no key at all, one at a seq far past the head, with a made-up hash and
 * signature, became the nearest snapshot of every later read (the state read takes the
 * highest seq): each read of a fresh process passed it over and folded the session from its
 * first event, for good. Now a snapshot is stored only at an event of its session with that
 * event's hash and time, and, in a tenant written by vaults that sign, only with a
 * signature; the database cannot check the signature, so `verify` names one no trusted key
 * made (snapshot_unsigned) and reads do not start from it.
 */
afterAll(dropCreatedDatabases);

const OFF_CHAIN = /^STORAGE_REFUSED .*a snapshot is stored only at an event of its session, with that event's hash and time/;
const UNSIGNED = /^STORAGE_REFUSED .*the tenant is written by vaults that sign: a snapshot is stored only with its signature/;

describe.each(backends())('snapshots the application role stores, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  const asApp = (tenant: string, q: string) => withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(q)), storeOf(vault).layout.appRole);
  const rows = async <T>(tenant: string, q: string) => ((await asApp(tenant, q)) as unknown as { rows: T[] }).rows;
  const problems = async (tenant: string, session: string) => (await vault.verify({ tenant, session })).problems.map((p) => `${p.seq} ${p.kind}`);
  const zeros = (n: number) => `decode('${'00'.repeat(n)}', 'hex')`;

  /** A snapshot row with no key behind it: garbage sealed bytes, at `seq` with `head` and `at` (SQL), signed as `signature` says. */
  const plant = (tenant: string, session: string, seq: number, head: string, at: string, signature: 'made-up' | 'none') =>
    asApp(
      tenant,
      `INSERT INTO snapshots (tenant_id, session_id, seq, at, head_hash, key_version, nonce, ciphertext, key_id, signature)
       VALUES ('${tenant}', '${session}', ${seq}, ${at}, ${head}, 1, ${zeros(24)}, ${zeros(64)},
               ${signature === 'none' ? 'NULL, NULL' : `(SELECT key_id FROM snapshots WHERE key_id IS NOT NULL LIMIT 1), ${zeros(64)}`})`,
    );
  const eventHash = (session: string, seq: number) => `(SELECT hash FROM events WHERE session_id = '${session}' AND seq = ${seq})`;
  const eventAt = (session: string, seq: number) => `(SELECT at FROM events WHERE session_id = '${session}' AND seq = ${seq})`;

  /** A fresh process (it holds no state, so it starts from the nearest snapshot), with the snapshots it passed over counted. */
  async function freshState(session: string, tenant = 'bank'): Promise<{ contents: string[]; ignored: number }> {
    await vault.close();
    const lines: string[] = [];
    vault = await store.open({ logger: createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } }) });
    const state = await vault.session(tenant, session).state();
    return { contents: state.messages.map((m) => m.content as string), ignored: lines.filter((l) => l.includes('"snapshot.ignored"')).length };
  }

  beforeAll(async () => {
    store = await storeHome(backend);
    vault = await store.open();
    await vault.createTenant('bank');
    await vault.session('bank', 'long').appendMany(Array.from({ length: 30 }, (_, i) => ({ type: 'message', role: 'user', content: `m${i + 1}` })));
    expect(await vault.session('bank', 'long').snapshot()).toBe(30);
  }, 60_000);
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('with no key, a snapshot past the head, or at another hash or time, is refused, and reads go on starting from the vault\'s own', async () => {
    const before = await rows<{ n: number }>('bank', `SELECT count(*)::int AS n FROM snapshots`);
    expect(await refusal(plant('bank', 'long', 1_000_000_000, zeros(32), 'now()', 'made-up'))).toMatch(OFF_CHAIN);
    expect(await refusal(plant('bank', 'long', 31, zeros(32), 'now()', 'made-up'))).toMatch(OFF_CHAIN);
    expect(await refusal(plant('bank', 'long', 20, zeros(32), eventAt('long', 20), 'made-up'))).toMatch(OFF_CHAIN);
    expect(await refusal(plant('bank', 'long', 20, eventHash('long', 20), `${eventAt('long', 20)} + interval '1 ms'`, 'made-up'))).toMatch(OFF_CHAIN);
    expect(await refusal(plant('bank', 'long', 20, eventHash('long', 19), eventAt('long', 20), 'made-up'))).toMatch(OFF_CHAIN);
    expect(await rows<{ n: number }>('bank', `SELECT count(*)::int AS n FROM snapshots`)).toEqual(before);
    const read = await freshState('long');
    expect(read.contents).toEqual(Array.from({ length: 30 }, (_, i) => `m${i + 1}`));
    expect(read.ignored).toBe(0);
  });

  it('in a tenant written by vaults that sign, a snapshot with no signature is refused; one with a made-up signature is named by verify and not started from', async () => {
    expect(await refusal(plant('bank', 'long', 20, eventHash('long', 20), eventAt('long', 20), 'none'))).toMatch(UNSIGNED);
    expect(await problems('bank', 'long')).toEqual([]);
    // On the chain, with a signature the database cannot check: stored, and named.
    await vault.session('bank', 'long').append({ type: 'message', role: 'user', content: 'm31' });
    await plant('bank', 'long', 31, eventHash('long', 31), eventAt('long', 31), 'made-up');
    expect(await problems('bank', 'long')).toEqual(['31 snapshot_unsigned']);
    const read = await freshState('long');
    expect(read.contents).toEqual(Array.from({ length: 31 }, (_, i) => `m${i + 1}`));
    expect(read.ignored).toBe(1);
  });

  it('a vault with signing off, in a tenant written by vaults that sign, is refused its snapshot and stores nothing', async () => {
    const count = async () => (await rows<{ n: number }>('bank', `SELECT count(*)::int AS n FROM snapshots WHERE session_id = 'long'`))[0]!.n;
    const before = await count();
    await vault.session('bank', 'long').append({ type: 'message', role: 'user', content: 'm32' });
    await vault.close();
    vault = await store.open({ checkpoints: false });
    expect(await refusal(vault.session('bank', 'long').snapshot())).toMatch(UNSIGNED);
    expect(await count()).toBe(before);
    await vault.close();
    vault = await store.open();
  });

  it('a tenant from before 0051 still takes unsigned snapshots until keys check --sign, and verify names none of them', async () => {
    await vault.createTenant('older');
    await asOwner(vault, store.database ?? 'pglite', [{ text: `UPDATE tenants SET wraps_signed = false WHERE tenant_id = 'older'` }]);
    await vault.session('older', 'chat').appendMany([
      { type: 'message', role: 'user', content: 'hello' },
      { type: 'message', role: 'assistant', content: 'hi' },
    ]);
    // As a vault of the version before 0052 wrote its snapshots: no signature.
    await plant('older', 'chat', 2, eventHash('chat', 2), eventAt('chat', 2), 'none');
    expect(await problems('older', 'chat')).toEqual([]);
    expect((await freshState('chat', 'older')).contents).toEqual(['hello', 'hi']);
  });
});
