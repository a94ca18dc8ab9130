import { Client } from 'pg';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import type { Vault } from '../../src/vault';
import { refusal } from '../support/refusal';
import { storeHome, type StoreHome } from '../support/store-home';

/**
 * `keys check --sign` makes a tenant take signed wraps only once it has signed every wrap
 * it found (drizzle/0051), while the application role, stolen, stores an unsigned wrap in
 * the same tenant from a transaction of its own, timed against the check. The tenant's row
 * is locked both ways, so the unsigned wrap is either seen by the setting (which is then
 * refused, and the tenant left as it was) or refused itself: never stored in a tenant the
 * vault then trusts to hold signed wraps only. On a server only: the embedded store admits
 * one connection, so no second transaction can be open meanwhile.
 */
afterAll(dropCreatedDatabases);

const servers = backends().filter((b) => b.name === 'postgres');
process.stderr.write('[signed-wraps-race.test.ts] PGlite not run here: the embedded store admits one connection, so no transaction can be open beside the check\n');

describe.each(servers)('an unsigned wrap stored while keys check --sign sets the rule, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  const clients: Client[] = [];
  const op = () => vault.operator({ actor: 'dana', reason: 'after the upgrade' });

  /** A connection acting as the application role, in the vault's schema. */
  async function appConnection(): Promise<Client> {
    const c = new Client({ connectionString: store.database });
    await c.connect();
    clients.push(c);
    const l = storeOf(vault).layout;
    await c.query(`SET search_path = ${l.schema}, public`);
    await c.query(`SET ROLE ${l.appRole}`);
    return c;
  }
  const insertUnsigned = (c: Client, tenant: string, session: string) =>
    c.query(
      `INSERT INTO sessions (tenant_id, session_id, created_at, data_key_version, tenant_key_version, wrapped_data_key, retain_floor)
       VALUES ($1, $2, now(), 1, 1, decode(repeat('00', 72), 'hex'), '7y')`,
      [tenant, session],
    );
  const signedOnly = async (c: Client, tenant: string) => {
    await c.query(`SELECT set_config('vault.tenant', $1, false)`, [tenant]);
    return (await c.query<{ on: boolean }>(`SELECT wraps_signed AS on FROM tenants`)).rows[0]!.on;
  };
  /** Waits until some backend of this database waits for a lock. */
  async function someoneWaits(): Promise<void> {
    const c = new Client({ connectionString: store.database });
    await c.connect();
    try {
      for (let i = 0; i < 400; i++) {
        const r = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        if (r.rows[0]!.n > 0) return;
        await new Promise((res) => setTimeout(res, 25));
      }
      throw new Error('no backend came to wait for the lock');
    } finally {
      await c.end();
    }
  }
  /** A tenant created, and a session written, by a vault with signing off: its wraps carry no signature. */
  const legacyTenant = (tenant: string) =>
    store.withVault(async (unsigned) => {
      await unsigned.createTenant(tenant);
      await unsigned.session(tenant, 'old').append({ type: 'task', task: 'before signing' });
    }, { checkpoints: false });

  beforeAll(async () => {
    store = await storeHome(backend);
    await legacyTenant('first');
    await legacyTenant('second');
    vault = await store.open();
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await vault?.close();
    store?.cleanup();
  });

  it('an unsigned wrap stored first, and not yet committed, makes the setting wait for it and then be refused', async () => {
    const attacker = await appConnection();
    await attacker.query('BEGIN');
    await attacker.query(`SELECT set_config('vault.tenant', 'first', true)`);
    await insertUnsigned(attacker, 'first', 'squat');
    const check = op().checkKeys('first', { sign: true });
    await someoneWaits(); // the setting, on the tenant's row the insert holds
    await attacker.query('COMMIT');
    // The check signed what it saw, and left the tenant as it was: the new wrap is unsigned.
    await expect(check).resolves.toMatchObject({ signed: 2, signedOnly: 0 });
    expect(await signedOnly(attacker, 'first')).toBe(false);
  });

  it('an unsigned wrap stored after the setting, from a snapshot taken before it, is refused', async () => {
    const attacker = await appConnection();
    await attacker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await attacker.query(`SELECT set_config('vault.tenant', 'second', true)`);
    await attacker.query(`SELECT count(*) FROM sessions`); // its snapshot: the tenant does not take signed wraps only yet
    await expect(op().checkKeys('second', { sign: true })).resolves.toMatchObject({ signed: 2, signedOnly: 1 });
    expect(await refusal(insertUnsigned(attacker, 'second', 'squat'))).toMatch(/could not serialize access due to concurrent update/);
    await attacker.query('ROLLBACK');
    expect(await signedOnly(attacker, 'second')).toBe(true);
    expect(await refusal(insertUnsigned(attacker, 'second', 'squat'))).toMatch(/a wrap is stored only with its signature/);
  });
});
