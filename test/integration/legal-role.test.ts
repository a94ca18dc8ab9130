import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { sql } from 'drizzle-orm';
import { adminPassword, adminUrl, backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { openVault, type Vault, type VaultOptions } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { rowsOf } from '../../src/store/types';
import { createLogger } from '../../src/observability';
import { refusal } from '../support/refusal';
import { runCli } from '../support/cli';
import { storeHome, type StoreHome } from '../support/store-home';
import { buildService } from '../../src/service';

/**
 * Legal holds against the operator role, by performing the attacks: a thief with an
 * operator's database credentials (and no keyring) lifts the hold on a session and then
 * shreds or purges it. Before drizzle/0042_legal_role.sql the operator role wrote holds, so
 * the database let the lifting through and only the signed trail named it; now only the
 * legal role places and lifts holds, and it administers nothing else, so destroying held
 * evidence takes both roles' credentials. The vault's own hold commands act as the legal
 * role for their transaction; a login that may act as both (a superuser, the embedded
 * store) does both.
 */
afterAll(dropCreatedDatabases);

const quiet = createLogger({ level: 'silent' });
const DENIED = /permission denied/;
const ONLY_OPERATORS = /only the retention or operator role archives or purges a session/;

describe.each(backends())('legal holds are the legal role’s, on $name', (backend) => {
  let store: StoreHome;
  let home: string;
  let database: string | undefined;
  /** A vault on the test's store acting as `appRole` (none: the default), closed after `use`. */
  const withVault = <T>(use: (v: Vault) => Promise<T>, extra: Partial<VaultOptions> = {}): Promise<T> => store.withVault(use, extra);
  const inSql = (v: Vault, q: string) => withTenant(storeOf(v).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)));
  const holds = () => withVault(async (v) => (await v.holds('bank')).map((h) => h.session));

  beforeAll(async () => {
    store = await storeHome(backend);
    ({ home, database } = store);
    await withVault(async (v) => {
      await v.createTenant('bank');
      for (const s of ['held', 'free', 'other']) await v.session('bank', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
      await v.operator({ actor: 'legal', reason: 'case 7' }).setHold('bank', 'held');
      await v.operator({ actor: 'ops', reason: 'policy' }).setRetention('bank', { archiveAfter: '30d', retain: '7y' });
    });
  }, 120_000);
  afterAll(() => store?.cleanup());

  it('a login that may act as both (the embedded store, a superuser) places and lifts holds, each transaction as the legal role, and is the operator again after', async () => {
    await withVault(async (v) => {
      expect(storeOf(v).layout).toMatchObject({ role: 'session_vault_operator', legalRole: 'session_vault_legal', roleAsked: false });
      const desk = v.operator({ actor: 'legal', reason: 'case 8' });
      expect(await desk.setHold('bank', 'free')).toBe(true);
      // The next transaction (on the embedded store, the same connection) acts as the operator role again.
      const acting = await withTenant(storeOf(v).db, 'bank', 'who', async (tx) => rowsOf(await tx.execute(sql`SELECT current_user AS role`))[0]);
      expect(acting).toEqual({ role: 'session_vault_operator' });
      expect(await desk.clearHold('bank', 'free')).toBe(true);
      expect((await v.holds('bank')).map((h) => h.session)).toEqual(['held']);
      expect((await v.verify({ tenant: 'bank' })).problems).toEqual([]);
    });
  });

  it("as the operator role (its credentials stolen): lifting or placing a hold is refused, through the API and in SQL, so the held session's key and events survive", async () => {
    await withVault(
      async (ops) => {
        expect(storeOf(ops).layout.role).toBe('session_vault_operator');
        const mallory = ops.operator({ actor: 'mallory', reason: 'routine' });
        for (const attempt of [() => mallory.clearHold('bank', 'held'), () => mallory.setHold('bank', 'other')]) expect(await refusal(attempt())).toMatch(/^PERMISSION_DENIED .*insufficient privilege/);
        expect(await refusal(inSql(ops, `UPDATE legal_holds SET cleared_at = now(), cleared_by = 'legal', clear_reason = 'case closed' WHERE session_id = 'held'`))).toMatch(DENIED);
        expect(await refusal(inSql(ops, `INSERT INTO legal_holds (tenant_id, session_id, reason, set_by, set_at) VALUES ('bank', 'other', 'blocking an erasure', 'legal', now())`))).toMatch(DENIED);
        // With the hold standing, what the operator role may otherwise do to a session is refused for this one.
        expect(await refusal(mallory.shred('bank', 'held'))).toMatch(/legal hold/);
        expect(await refusal(inSql(ops, `UPDATE sessions SET wrapped_data_key = NULL WHERE session_id = 'held'`))).toMatch(/legal hold/);
        expect(await refusal(inSql(ops, `UPDATE tenant_keys SET wrapped_key = NULL, state = 'destroyed'`))).toMatch(/legal hold/);
        expect((await ops.session('bank', 'held').state()).messages.map((m) => m.content)).toEqual(['customer held']);
        // Each refused attempt is in the trail.
        const outcomes: string[] = [];
        for await (const r of ops.accessLog({ tenant: 'bank' })) if (r.actor === 'mallory') outcomes.push(`${r.action.split(':')[0]} ${r.outcome}`);
        expect(outcomes).toEqual(expect.arrayContaining(['hold.clear failed:PERMISSION_DENIED', 'hold.set failed:PERMISSION_DENIED']));
      },
      { appRole: 'session_vault_operator' },
    );
    expect(await holds()).toEqual(['held']);
  });

  it('as the legal role: places and lifts holds and does the agent’s reading, and administers nothing else', async () => {
    await withVault(
      async (desk) => {
        expect(storeOf(desk).layout.role).toBe('session_vault_legal');
        const legal = desk.operator({ actor: 'legal', reason: 'case 9' });
        expect(await legal.setHold('bank', 'other')).toBe(true);
        expect(await legal.clearHold('bank', 'other')).toBe(true);
        expect((await desk.session('bank', 'free').state()).messages).toHaveLength(1);
        const mallory = desk.operator({ actor: 'mallory', reason: 'routine' });
        const attempts: [string, () => Promise<unknown>][] = [
          ['shred a session', () => mallory.shred('bank', 'free')],
          ['destroy the tenant key', () => mallory.destroyKey('bank', 1)],
          ['shorten retention', () => mallory.setRetention('bank', { archiveAfter: '1d', retain: '1d', overrideFloors: true })],
          ['archive', () => mallory.archive('bank', 'free')],
          ['issue a token', () => mallory.createToken('bank', { role: 'admin', label: 'backdoor' })],
          ['create a tenant', () => desk.createTenant('intruder')],
        ];
        for (const [what, attempt] of attempts) expect([what, await refusal(attempt())]).toEqual([what, expect.stringMatching(/^(PERMISSION_DENIED .*insufficient privilege|STORAGE_REFUSED .*only the retention or operator role)/)]);
        expect(await refusal(inSql(desk, `UPDATE sessions SET wrapped_data_key = NULL WHERE session_id = 'free'`))).toMatch(DENIED);
        expect(await refusal(inSql(desk, `UPDATE sessions SET status = 'purged' WHERE session_id = 'free'`))).toMatch(ONLY_OPERATORS);
        expect(await refusal(inSql(desk, `UPDATE tenant_keys SET state = 'destroyed', wrapped_key = NULL`))).toMatch(DENIED);
        expect(await refusal(inSql(desk, `UPDATE retention_policies SET retain = '1d'`))).toMatch(DENIED);
        expect((await desk.keys('bank')).map((k) => [k.version, k.state])).toEqual([[1, 'primary']]);
        expect(await desk.retention('bank')).toMatchObject({ archiveAfter: '30d', retain: '7y' });
      },
      { appRole: 'session_vault_legal' },
    );
  });

  it('as the legal role alone: a hold on an archived session brings it back to the database (the legal role may restore, as the application role may)', async () => {
    await withVault((v) => v.operator({ actor: 'ops', reason: 'quiet' }).archive('bank', 'other'));
    await withVault(
      async (desk) => {
        const legal = desk.operator({ actor: 'legal', reason: 'case 10' });
        expect(await legal.setHold('bank', 'other')).toBe(true);
        expect((await desk.sessionInfo('bank', 'other')).status).toBe('active');
        expect(await legal.clearHold('bank', 'other')).toBe(true);
      },
      { appRole: 'session_vault_legal' },
    );
    const restores: string[][] = [];
    await withVault(async (v) => {
      for await (const r of v.accessLog({ tenant: 'bank' })) if (r.session === 'other' && r.action === 'retention.restore') restores.push([r.actor, r.outcome]);
    });
    expect(restores).toEqual([['legal', 'granted']]);
  });

  it("as the operator role: a held session's key cannot be written over or re-bound either, and `keys rewrap` leaves it under its version", async () => {
    await withVault(
      async (ops) => {
        // Other bytes over the wrapped key, or another version named in what it is bound to, would make it unrecoverable with no shred marker.
        for (const change of [
          `wrapped_data_key = '\\x00'::bytea || wrapped_data_key`,
          `data_key_version = data_key_version + 1`,
          `tenant_key_version = tenant_key_version + 1`,
        ]) {
          expect([change, await refusal(inSql(ops, `UPDATE sessions SET ${change} WHERE session_id = 'held'`))]).toEqual([change, expect.stringMatching(/under legal hold; its data key stays as it is/)]);
        }
        const mallory = ops.operator({ actor: 'mallory', reason: 'routine' });
        await mallory.rotateKey('bank');
        const ticks: number[][] = [];
        expect(await mallory.rewrap('bank', (done, total) => ticks.push([done, total]))).toEqual({ rewrapped: 2, held: 1, primary: 2 });
        expect(ticks.at(-1)).toEqual([3, 3]); // the held one counts toward the progress, so a bar reaches its end
        expect((await ops.keys('bank')).map((k) => [k.version, k.state, k.sessions])).toEqual([
          [1, 'active', 1],
          [2, 'primary', 2],
        ]);
        expect(await refusal(mallory.retireKey('bank', 1))).toMatch(/^KEY_STATE .*still protects 1 session/);
      },
      { appRole: 'session_vault_operator' },
    );
    // A fresh process, with no key held in memory, still opens the held session.
    await withVault(async (v) => expect((await v.session('bank', 'held').state()).messages.map((m) => m.content)).toEqual(['customer held']), { stateCache: 0 });
  });

  it("the HTTP service acting as the operator role: an admin's retention change goes through, its hold clear is 403 PERMISSION_DENIED and the hold stands", async () => {
    await withVault(
      async (ops) => {
        const { token } = await ops.operator({ actor: 'ops', reason: 'service admin' }).createToken('bank', { role: 'admin', label: 'ops desk' });
        const service = await buildService(ops, { logger: quiet });
        const url = await service.listen('127.0.0.1', 0);
        const call = async (method: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
          const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
          return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code };
        };
        try {
          expect(await call('POST', '/v1/tenants/bank/sessions/held/hold/clear', { reason: 'case closed' })).toEqual({ status: 403, code: 'PERMISSION_DENIED' });
          expect(await call('PUT', '/v1/tenants/bank/sessions/other/hold', { reason: 'blocking' })).toEqual({ status: 403, code: 'PERMISSION_DENIED' });
          expect((await call('PUT', '/v1/tenants/bank/retention', { archiveAfter: '60d', retain: '7y' }, { 'x-vault-reason': 'longer' })).status).toBe(200);
        } finally {
          await service.close();
        }
        expect((await ops.holds('bank')).map((h) => h.session)).toEqual(['held']);
        expect(await ops.retention('bank')).toMatchObject({ archiveAfter: '60d', retain: '7y' });
      },
      { appRole: 'session_vault_operator' },
    );
  });

  it('the CLI as the operator role: `hold clear` and `hold set` exit 4 with one line, and the holds are unchanged', async () => {
    const env = { VAULT_HOME: home, ...(database ? { VAULT_DATABASE_URL: database } : {}), VAULT_APP_ROLE: 'session_vault_operator' };
    for (const args of [
      ['hold', 'clear', 'bank', 'held', '--reason', 'case closed', '--actor', 'mallory'],
      ['hold', 'set', 'bank', 'other', '--reason', 'blocking', '--actor', 'mallory'],
    ]) {
      const run = await runCli(env, args);
      expect([args[1], run.code, run.stderr]).toEqual([args[1], 4, expect.stringMatching(/^error\[PERMISSION_DENIED\]: database refused .* legal hold: insufficient privilege for the role this vault acts as \(roles: docs\/operations.md\)\n$/)]);
    }
    expect(await holds()).toEqual(['held']);
  }, 60_000);
});

describe.each(backends().filter((b) => b.name === 'postgres'))('an operator’s login and a legal desk’s login, on $name', (backend) => {
  it('neither alone destroys a held session; the legal desk lifts the hold and the operator then shreds', async () => {
    const h = await tempHome();
    const url = await backend.database();
    const admin = new Client({ connectionString: adminUrl() });
    await admin.connect();
    const suffix = randomBytes(3).toString('hex');
    const [ops, desk, both] = [`sv_ops_${suffix}`, `sv_desk_${suffix}`, `sv_both_${suffix}`];
    const as = (login: string) => {
      const u = new URL(url);
      u.username = login;
      return u.toString();
    };
    const open = (login: string) => openVault({ home: h.home, database: as(login), migrate: false, logger: quiet });
    try {
      const owner = await openVault({ home: h.home, database: url, logger: quiet });
      await owner.createTenant('bank');
      await owner.session('bank', 'held').append({ type: 'message', role: 'user', content: 'evidence' });
      await owner.operator({ actor: 'legal', reason: 'case 7' }).setHold('bank', 'held');
      await owner.close();
      await admin.query(`CREATE ROLE ${ops} LOGIN ${adminPassword()}`);
      await admin.query(`GRANT session_vault_operator TO ${ops}`);
      await admin.query(`CREATE ROLE ${desk} LOGIN ${adminPassword()}`);
      await admin.query(`GRANT session_vault_legal TO ${desk}`);

      // The operator's login: acts as the operator role, may not become the legal role, and cannot lift the hold.
      const opsVault = await open(ops);
      try {
        expect(storeOf(opsVault).layout.role).toBe('session_vault_operator');
        expect(await refusal(opsVault.operator({ actor: 'mallory', reason: 'routine' }).clearHold('bank', 'held'))).toMatch(/^PERMISSION_DENIED .*this login may not act as session_vault_legal/);
        expect(await refusal(opsVault.operator({ actor: 'mallory', reason: 'routine' }).shred('bank', 'held'))).toMatch(/legal hold/);
        const direct = new Client({ connectionString: as(ops), options: '-c search_path=session_vault' });
        await direct.connect();
        try {
          expect(await refusal(direct.query('SET ROLE session_vault_legal'))).toMatch(DENIED);
          await direct.query(`SELECT set_config('vault.tenant', 'bank', false)`);
          expect(await refusal(direct.query(`UPDATE legal_holds SET cleared_at = now(), cleared_by = 'legal', clear_reason = 'x'`))).toMatch(DENIED);
        } finally {
          await direct.end();
        }
      } finally {
        await opsVault.close();
      }

      // The legal desk's login: acts as the application role (it may not operate), lifts holds as the legal role, shreds nothing.
      const deskVault = await open(desk);
      try {
        expect(storeOf(deskVault).layout.role).toBe('session_vault_app');
        const review = await deskVault.roles();
        expect(review.roles.legal).toBe('session_vault_legal');
        expect(review.logins).toEqual(
          expect.arrayContaining([
            { login: ops, superuser: false, bypassRls: false, app: true, operator: true, retention: true, legal: false, auditor: false },
            { login: desk, superuser: false, bypassRls: false, app: true, operator: false, retention: false, legal: true, auditor: false },
          ]),
        );
        expect(await deskVault.operator({ actor: 'carol', reason: 'case 7 closed' }).clearHold('bank', 'held')).toBe(true);
        expect(await refusal(deskVault.operator({ actor: 'mallory', reason: 'routine' }).shred('bank', 'held'))).toMatch(/^PERMISSION_DENIED /);
      } finally {
        await deskVault.close();
      }
      const cli = await runCli({ VAULT_HOME: h.home, VAULT_DATABASE_URL: url }, ['roles']);
      expect(cli.stdout).toContain(`${ops}\toperator\n`);
      expect(cli.stdout).toContain(`${desk}\tlegal\n`);
      expect(cli.stdout).not.toContain(`finding: ${ops} `);
      // A login granted both is what the split is meant to prevent: the review names it.
      await admin.query(`CREATE ROLE ${both} LOGIN ${adminPassword()}`);
      await admin.query(`GRANT session_vault_operator, session_vault_legal TO ${both}`);
      const review = await runCli({ VAULT_HOME: h.home, VAULT_DATABASE_URL: url }, ['roles']);
      expect(review.stdout).toContain(`${both}\toperator, legal\n`);
      expect(review.stdout).toContain(`finding: ${both} may act as both the operator and the legal role: alone, it can lift a legal hold and destroy what the hold kept\n`);
      const json = JSON.parse((await runCli({ VAULT_HOME: h.home, VAULT_DATABASE_URL: url }, ['roles', '--json'])).stdout) as { findings: { login: string; kind: string }[] };
      expect(json.findings).toContainEqual(expect.objectContaining({ login: both, kind: 'operator_and_legal' }));

      // With the hold lifted by the legal desk, the operator's shred goes ahead, and the trail and verify agree.
      const opsAgain = await open(ops);
      try {
        expect(await opsAgain.operator({ actor: 'dave', reason: 'erasure request 12' }).shred('bank', 'held')).toMatchObject({ sessions: 1 });
        expect((await opsAgain.verify({ tenant: 'bank' })).problems).toEqual([]);
      } finally {
        await opsAgain.close();
      }
    } finally {
      h.cleanup();
      for (const login of [ops, desk, both]) await admin.query(`DROP ROLE IF EXISTS ${login}`).catch(() => {});
      await admin.end();
    }
  }, 120_000);
});
