import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asApp, asOwner } from '../support/owner';
import { storeOf } from '../../src/vault/vault';
import { withTenant, readEvents } from '../../src/store';
import type { Vault } from '../../src/vault';

afterAll(dropCreatedDatabases);

/** Every way to change stored history. */
const CHANGES = [
  ['UPDATE', `UPDATE events SET correlation_id = 'x'`],
  ['DELETE', `DELETE FROM events`],
  ['TRUNCATE', `TRUNCATE events`],
  ['UPDATE', `UPDATE checkpoints SET note = 'x'`],
  ['DELETE', `DELETE FROM checkpoints`],
  ['TRUNCATE', `TRUNCATE checkpoints`],
];

describe.each(backends())('database guards on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend));
    await vault.createTenant('a');
    await vault.createTenant('b');
    await vault.session('a', 's').appendMany([{ type: 'task', task: 'a1' }, { type: 'task', task: 'a2' }]);
    await vault.session('b', 's').append({ type: 'task', task: 'b1' });
  });
  afterAll(() => close());

  it.each(CHANGES)('refuses %s on events and checkpoints from the application connection', async (_op, statement) => {
    await expect(asApp(vault, statement)).rejects.toMatchObject({ cause: expect.objectContaining({ code: '42501' }) });
  });

  it.each(CHANGES)('refuses %s on events and checkpoints even to the owner, by trigger', async (_op, statement) => {
    // asOwner disables triggers; run with them enabled to see the guard.
    const run = asOwner(vault, url, [{ text: 'SET session_replication_role = DEFAULT' }, { text: statement }]);
    await expect(run).rejects.toMatchObject({ message: expect.stringMatching(/append-only/) });
    expect((await vault.verify()).ok).toBe(true);
  });

  it('shows no rows to a query with no tenant set', async () => {
    for (const table of ['events', 'checkpoints', 'sessions', 'tenant_keys', 'tenants']) {
      expect(await asApp(vault, `SELECT count(*)::int AS n FROM ${table}`)).toEqual([{ n: 0 }]);
    }
  });

  it("never shows one tenant another tenant's events", async () => {
    const db = storeOf(vault).db;
    expect(await withTenant(db, 'a', 'test', (tx) => readEvents(tx, 'b', 's', 0, 100))).toEqual([]);
    expect((await withTenant(db, 'a', 'test', (tx) => readEvents(tx, 'a', 's', 0, 100))).length).toBe(2);
  });

  it("refuses to write a row into another tenant's scope", async () => {
    const db = storeOf(vault).db;
    const { sql } = await import('drizzle-orm');
    await expect(
      withTenant(db, 'a', 'test', (tx) => tx.execute(sql`INSERT INTO tenants (tenant_id, created_at) VALUES ('c', now())`)),
    ).rejects.toMatchObject({ code: 'STORAGE_REFUSED', message: expect.stringMatching(/outside the tenant's scope \(row-level security\)$/) });
    expect((await vault.tenants()).map((t) => t.tenant)).toEqual(['a', 'b']);
  });
});
