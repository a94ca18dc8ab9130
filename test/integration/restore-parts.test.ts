import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeHome, type StoreHome } from '../support/store-home';
import { type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { RESTORE_CHUNK } from '../../src/store/queries/move-session';
import { batchPlaceholders, batchValues } from '../../src/store/queries/batch-columns';
import { positional } from '../../src/store/statement';
import { readArchived } from '../../src/vault/archive';
import { sessionRow } from '../../src/vault/session-row';
import type { VaultDeps } from '../../src/vault/deps';
import { rowsOf } from '../../src/store/types';
import { refusal } from '../support/refusal';

/**
 * A long session restored in parts (drizzle/0076): one statement a part inside one
 * transaction, so that no statement holds the whole session (the embedded store's memory
 * grows to its largest statement: restoring 10,000 events peaked at about 900 MB, 250
 * since; `npm run bench`). The parts are whole or nothing: a part that does not continue
 * the one before it in its transaction is refused, and a restore that stops short is
 * refused at commit (the head event must be back, 0041), whoever calls the function.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())('a long session restored in parts, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  let now = Date.parse('2026-03-02T09:00:00Z');
  const clock = () => new Date(now);
  const EVENTS = 2 * RESTORE_CHUNK + 500;
  const as = (role: string, q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), role);
  const app = () => storeOf(vault).layout.appRole;
  const hotEvents = async () => Number(rowsOf<{ n: string }>(await as(app(), `SELECT count(*) AS n FROM events WHERE session_id = 'long'`))[0]!.n);
  // One part of two rows of the caller's own, from `from`, as the app role would send it in SQL.
  const part = (from: number) => `SELECT session_vault_restore_part('bank', 'long', ${EVENTS}, (SELECT head_hash FROM sessions WHERE session_id = 'long'),
      ARRAY[${from}, ${from + 1}]::bigint[], ARRAY['message', 'message'], ARRAY[now(), now()], ARRAY['x', 'x'], ARRAY[NULL, NULL]::text[], ARRAY[NULL, NULL]::text[],
      ARRAY[NULL, NULL]::int[], ARRAY[NULL, NULL]::int[], ARRAY[NULL, NULL]::float8[], ARRAY[NULL, NULL]::bigint[], ARRAY[1, 1], ARRAY[1, 1],
      decode(repeat('00', 48), 'hex'), '\\x0000'::bytea, decode(repeat('11', 64), 'hex')) AS ok`;

  beforeAll(async () => {
    store = await storeHome(backend, { clock });
    vault = await store.open();
    await vault.createTenant('bank');
    for (let i = 0; i < EVENTS; i += 1000) {
      await vault.session('bank', 'long').appendMany(Array.from({ length: Math.min(1000, EVENTS - i) }, (_, j) => ({ type: 'message' as const, role: j % 2 ? ('assistant' as const) : ('user' as const), content: `turn ${i + j + 1}` })));
    }
    now += 40 * 86_400_000;
    await vault.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'long');
  }, 120_000);
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('restores every event, in order, and verify is clean', async () => {
    expect(await vault.operator({ actor: 'ops', reason: 'ticket 5' }).restore('bank', 'long')).toBe(true);
    expect(await hotEvents()).toBe(EVENTS);
    const state = await vault.operator({ actor: 'ops', reason: 'ticket 5' }).state('bank', 'long');
    expect(state.messages.map((m) => m.content)).toEqual(Array.from({ length: EVENTS }, (_, i) => `turn ${i + 1}`));
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });

  it('as the application role: a part that does not continue its transaction\'s last, or is not consecutive, is refused; a restore that stops short is refused at commit', async () => {
    await vault.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'long');
    expect(await hotEvents()).toBe(0);
    expect(await refusal(as(app(), part(RESTORE_CHUNK + 1)))).toMatch(/a restored part continues the part before it, in its transaction/);
    expect(await refusal(as(app(), part(1).replace('ARRAY[1, 2]::bigint[]', 'ARRAY[1, 3]::bigint[]')))).toMatch(/a restored part is consecutive seqs up to the head/);
    // The first part alone (rows of the caller's own): the session would be active without its head event.
    expect(await refusal(as(app(), part(1)))).toMatch(/a session becomes active again only with its events restored/);
    expect((await vault.sessionInfo('bank', 'long')).status).toBe('archived');
    expect(await hotEvents()).toBe(0);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });

  it('the one-statement restore a process of an earlier version calls (session_vault_restore) restores as before, through the same parts', async () => {
    const deps = (vault as unknown as { deps: VaultDeps }).deps;
    const content = await readArchived(deps, (await sessionRow(deps, 'bank', 'long'))!);
    const old = { name: 'restore_as_before', text: `SELECT session_vault_restore($1::text, $2::text, ${batchPlaceholders(3)}) AS ok` };
    const ok = await withTenant(storeOf(vault).db, 'bank', 'restoring as before', async (tx) => rowsOf<{ ok: boolean }>(await tx.execute(positional(old, ['bank', 'long', ...batchValues(content.events)]))));
    expect(ok).toEqual([{ ok: true }]);
    expect(await hotEvents()).toBe(EVENTS);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
  });
});
