import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { sql } from 'drizzle-orm';
import { adminUrl, backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { openVault, type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { createLogger } from '../../src/observability';
import { refusal } from '../support/refusal';
import { runCli } from '../support/cli';
import { buildService } from '../../src/service';

/**
 * The application role against what only operators may do, by performing the attacks: a
 * thief with the agent's database credentials (and no keyring) lifts a legal hold,
 * shortens retention, destroys keys, archives, purges, forges archive records and
 * tombstones, deletes snapshots, issues tokens. Before drizzle/0040_operator_role.sql the
 * database allowed all of it and only the signed trail named it afterwards; now the
 * database refuses it, through the vault's API and in SQL, and the agent's own work
 * (append, read, an archived session brought back by an append) goes on.
 */
afterAll(dropCreatedDatabases);

const quiet = createLogger({ level: 'silent' });
const DENIED = /permission denied/;
const ONLY_OPERATORS = /only the retention or operator role archives or purges a session/;

/** A vault with a held session, two archived ones, a snapshot and two tokens (writer, admin), made by the operator role. */
async function seeded(home: string, database: string | undefined): Promise<{ writer: string; admin: string }> {
  const ops = await openVault({ home, database, logger: quiet });
  try {
    expect(storeOf(ops).layout.role).toBe('session_vault_operator'); // no role asked for: the most the login may
    await ops.createTenant('bank');
    for (const s of ['held', 'cold', 'frozen', 'free']) await ops.session('bank', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
    const op = ops.operator({ actor: 'legal', reason: 'case 7' });
    await op.setHold('bank', 'held');
    await op.setRetention('bank', { archiveAfter: '30d', retain: '7y' });
    await op.archive('bank', 'cold');
    await op.archive('bank', 'frozen');
    const writer = await op.createToken('bank', { role: 'writer', label: 'agent' });
    const admin = await op.createToken('bank', { role: 'admin', label: 'legal desk' });
    await ops.session('bank', 'free').snapshot();
    return { writer: writer.token, admin: admin.token };
  } finally {
    await ops.close();
  }
}

describe.each(backends())('the application role cannot administer the vault, on $name', (backend) => {
  let home: string;
  let database: string | undefined;
  let cleanup: () => void;
  let app: Vault;
  let tokens: { writer: string; admin: string };
  const asApp = (q: string) => withTenant(storeOf(app).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)));

  beforeAll(async () => {
    const h = await tempHome();
    [home, cleanup] = [h.home, h.cleanup];
    database = backend.name === 'pglite' ? undefined : await backend.database();
    tokens = await seeded(home, database);
    app = await openVault({ home, database, appRole: 'session_vault_app', logger: quiet });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    cleanup?.();
  });

  it("acts as the application role when asked, and does the agent's work: append, read, an archived session brought back by an append", async () => {
    expect(storeOf(app).layout).toMatchObject({ role: 'session_vault_app', appRole: 'session_vault_app', operatorRole: 'session_vault_operator' });
    expect((await app.roles()).session.role).toBe('session_vault_app');
    await app.session('bank', 'free').append({ type: 'message', role: 'assistant', content: 'still served' });
    expect((await app.session('bank', 'free').state()).messages.map((m) => m.content)).toEqual(['customer free', 'still served']);
    await app.session('bank', 'cold').append({ type: 'message', role: 'assistant', content: 'welcome back' });
    expect((await app.sessionInfo('bank', 'cold')).status).toBe('active');
    await app.session('bank', 'new').append({ type: 'task', task: 'opened by the agent' });
  });

  it("through the vault's API: every operator change is refused by the database, and nothing changes", async () => {
    const op = app.operator({ actor: 'mallory', reason: 'routine' });
    const attempts: [string, () => Promise<unknown>][] = [
      ['clear a hold', () => op.clearHold('bank', 'held')],
      ['set a hold', () => op.setHold('bank', 'free')],
      ['shorten retention', () => op.setRetention('bank', { archiveAfter: '1d', retain: '1d', overrideFloors: true })],
      ['shred a session', () => op.shred('bank', 'free')],
      ['destroy the tenant key', () => op.destroyKey('bank', 1)],
      ['rotate the tenant key', () => op.rotateKey('bank')],
      ['archive', () => op.archive('bank', 'free')],
      ['issue a token', () => op.createToken('bank', { role: 'admin', label: 'backdoor' })],
      ['create a tenant', () => app.createTenant('intruder')],
    ];
    for (const [what, attempt] of attempts) expect([what, await refusal(attempt())]).toEqual([what, expect.stringMatching(/^(PERMISSION_DENIED .*insufficient privilege|STORAGE_REFUSED .*only the retention or operator role)/)]);
    expect((await app.holds('bank')).map((h) => h.session)).toEqual(['held']);
    expect(await app.retention('bank')).toMatchObject({ archiveAfter: '30d', retain: '7y' });
    expect((await app.keys('bank')).map((k) => [k.version, k.state])).toEqual([[1, 'primary']]);
    expect((await app.tokens('bank')).map((t) => t.label).sort()).toEqual(['agent', 'legal desk']);
    expect((await app.tenants()).map((t) => t.tenant)).toEqual(['bank']);
    expect((await app.session('bank', 'free').state()).messages).toHaveLength(2); // its key is intact
    // Each attempt is in the trail, refused.
    const outcomes = [];
    for await (const r of app.accessLog({ tenant: 'bank' })) if (r.actor === 'mallory') outcomes.push([r.action.split(':')[0], r.outcome]);
    expect(outcomes).toContainEqual(['hold.clear', 'failed:PERMISSION_DENIED']);
    expect(outcomes).toContainEqual(['keys.shred', 'failed:PERMISSION_DENIED']);
    expect(outcomes.filter(([, o]) => o === 'granted')).toHaveLength(outcomes.length / 2);
  });

  it('in SQL, on its own connection: holds, policies, floors, keys, statuses, archives, tombstones, snapshots and tokens are refused', async () => {
    const attacks: [string, RegExp][] = [
      [`UPDATE legal_holds SET cleared_at = now(), cleared_by = 'legal', clear_reason = 'case closed' WHERE session_id = 'held'`, DENIED],
      [`INSERT INTO legal_holds (tenant_id, session_id, reason, set_by, set_at) VALUES ('bank', 'free', 'blocking an erasure', 'legal', now())`, DENIED],
      [`UPDATE retention_policies SET retain = '1d', archive_after = '1d'`, DENIED],
      [`UPDATE sessions SET retain_floor = '1d'`, DENIED],
      [`UPDATE sessions SET wrapped_data_key = NULL WHERE session_id = 'free'`, DENIED],
      [`UPDATE tenant_keys SET state = 'destroyed', wrapped_key = NULL`, DENIED],
      [`INSERT INTO tenant_keys (tenant_id, version, master_key_id, wrapped_key, state, created_at) VALUES ('bank', 9, 'm', '\\x00', 'primary', now())`, DENIED],
      [`UPDATE sessions SET status = 'purged' WHERE session_id = 'free'`, ONLY_OPERATORS],
      [`UPDATE sessions SET status = 'archived' WHERE session_id = 'free'`, ONLY_OPERATORS],
      // Active again by hand, its events left in the archive (refused at commit, to every role).
      [`UPDATE sessions SET status = 'active' WHERE session_id = 'frozen'`, /only with its events restored/],
      [`INSERT INTO sessions (tenant_id, session_id, status, created_at, data_key_version, tenant_key_version) VALUES ('bank', 'ghost', 'purged', now(), 1, 1)`, ONLY_OPERATORS],
      [`INSERT INTO archives (tenant_id, session_id, head_seq, head_hash, object_name, store, digest, bytes, archived_at, archived_by, verified_at) VALUES ('bank', 'free', 1, '\\x00', 'o', 'folder', '\\x00', 1, now(), 'legal', now())`, DENIED],
      [`SELECT session_vault_release_archived('bank', 'free', 1, '\\x00', '\\x00')`, DENIED],
      [`INSERT INTO tombstones (tenant_id, session_id, head_seq, archive_digest, due_at, purged_at, purged_by, policy) VALUES ('bank', 'free', 1, '\\x00', now(), now(), 'legal', '1d')`, DENIED],
      [`DELETE FROM snapshots`, DENIED],
      [`INSERT INTO api_tokens (tenant_id, token_id, role, label, secret_hash, created_at, created_by, key_id, signature) VALUES ('bank', 't', 'admin', 'x', '\\x00', now(), 'legal', 'k', 'sig')`, DENIED],
      [`UPDATE api_tokens SET revoked_at = now(), revoked_by = 'mallory'`, DENIED],
      [`INSERT INTO tenants (tenant_id, created_at) VALUES ('bank', now())`, DENIED],
    ];
    for (const [q, why] of attacks) expect([q, await refusal(asApp(q))]).toEqual([q, expect.stringMatching(why)]);
    const [snapshots] = ((await asApp(`SELECT count(*)::int AS n FROM snapshots`)) as unknown as { rows: { n: number }[] }).rows;
    expect(snapshots!.n).toBeGreaterThan(0);
  });

  it("a service acting as the application role serves its writers, and answers an admin's hold or retention change 403 PERMISSION_DENIED, changing nothing", async () => {
    const service = await buildService(app, { logger: quiet });
    const url = await service.listen('127.0.0.1', 0);
    const call = async (token: string, method: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as { error?: { code: string } } };
    };
    try {
      expect((await call(tokens.writer, 'POST', '/v1/tenants/bank/sessions/free/events', { events: [{ type: 'task', task: 'through the service' }] })).status).toBe(200);
      for (const [method, path, body, headers] of [
        ['POST', '/v1/tenants/bank/sessions/held/hold/clear', { reason: 'case closed' }, {}],
        ['PUT', '/v1/tenants/bank/retention', { archiveAfter: '1d', retain: '1d', overrideFloors: true }, { 'x-vault-reason': 'cleanup' }],
      ] as const) {
        const answer = await call(tokens.admin, method, path, body, headers);
        expect([path, answer.status, answer.json.error?.code]).toEqual([path, 403, 'PERMISSION_DENIED']);
      }
      expect((await app.holds('bank')).map((h) => h.session)).toEqual(['held']);
      expect(await app.retention('bank')).toMatchObject({ archiveAfter: '30d', retain: '7y' });
    } finally {
      await service.close();
    }
  });

  it('the operator role, opened afterwards, finds everything as it was: verify clean, the hold in force, every key usable', async () => {
    await app.close();
    const ops = await openVault({ home, database, logger: quiet });
    try {
      expect(await ops.verify()).toMatchObject({ ok: true, problems: [] });
      expect((await ops.holds('bank')).map((h) => h.session)).toEqual(['held']);
      expect((await ops.sessionInfo('bank', 'frozen')).status).toBe('archived');
      for (const s of ['held', 'cold', 'frozen', 'free']) expect((await ops.session('bank', s).state()).messages.length).toBeGreaterThan(0);
      // The operator role may not make an archived session active by hand either; restoring it brings its events back.
      const byHand = withTenant(storeOf(ops).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(`UPDATE sessions SET status = 'active' WHERE session_id = 'frozen'`)));
      expect(await refusal(byHand)).toMatch(/only with its events restored/);
      expect(await ops.operator({ actor: 'legal', reason: 'case 7' }).restore('bank', 'frozen')).toBe(true);
      expect((await ops.session('bank', 'frozen').state()).messages.map((m) => m.content)).toEqual(['customer frozen']);
      // And it may do what the application role may not.
      await ops.operator({ actor: 'legal', reason: 'case 7 closed' }).clearHold('bank', 'held');
    } finally {
      await ops.close();
      app = await openVault({ home, database, appRole: 'session_vault_app', logger: quiet });
    }
  }, 120_000);
});

describe.each(backends().filter((b) => b.name === 'postgres'))("the agent's own login, granted the application role only, on $name", (backend) => {
  it('acts as the application role by default, cannot become the operator, and is refused the same when it uses its inherited privileges directly', async () => {
    const h = await tempHome();
    const url = await backend.database();
    await seeded(h.home, url);
    const login = `sv_agent_${randomBytes(3).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    const admin = new Client({ connectionString: adminUrl() });
    await admin.connect();
    const as = new URL(url);
    [as.username, as.password] = [login, password];
    try {
      await admin.query(`CREATE ROLE ${login} LOGIN PASSWORD '${password}'`);
      await admin.query(`GRANT session_vault_app TO ${login}`);
      const agent = await openVault({ home: h.home, database: as.toString(), migrate: false, logger: quiet });
      try {
        expect(storeOf(agent).layout.role).toBe('session_vault_app');
        // A review of who may do what names this login as an application-role member only.
        const review = await agent.roles();
        expect(review.session).toEqual({ login, role: 'session_vault_app' });
        expect(review.logins.find((l) => l.login === login)).toEqual({ login, superuser: false, bypassRls: false, app: true, operator: false, retention: false, legal: false, auditor: false });
        await agent.session('bank', 'free').append({ type: 'task', task: 'served' });
        expect(await refusal(agent.operator({ actor: 'mallory', reason: 'routine' }).clearHold('bank', 'held'))).toMatch(/^PERMISSION_DENIED .*may not act as session_vault_legal/);
      } finally {
        await agent.close();
      }
      const asked = openVault({ home: h.home, database: as.toString(), migrate: false, appRole: 'session_vault_operator', logger: quiet });
      await expect(asked).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringMatching(/^database refused connecting to Postgres at .*: this login may not act as session_vault_operator \(roles: docs\/operations.md\)$/) });
      // Straight in SQL with the login itself, no SET ROLE: what it inherits is the application role's.
      const direct = new Client({ connectionString: as.toString(), options: '-c search_path=session_vault' });
      await direct.connect();
      try {
        expect(await refusal(direct.query('SET ROLE session_vault_operator'))).toMatch(DENIED);
        await direct.query(`SELECT set_config('vault.tenant', 'bank', false)`);
        expect(await refusal(direct.query(`UPDATE legal_holds SET cleared_at = now(), cleared_by = 'legal', clear_reason = 'x'`))).toMatch(DENIED);
        expect(await refusal(direct.query(`UPDATE sessions SET status = 'purged' WHERE session_id = 'free'`))).toMatch(ONLY_OPERATORS);
        expect(await refusal(direct.query(`UPDATE tenant_keys SET wrapped_key = NULL`))).toMatch(DENIED);
      } finally {
        await direct.end();
      }
      // A login granted the operator role acts as it without being told.
      await admin.query(`GRANT session_vault_operator TO ${login}`);
      const operator = await openVault({ home: h.home, database: as.toString(), migrate: false, logger: quiet });
      try {
        expect(storeOf(operator).layout.role).toBe('session_vault_operator');
        const cli = await runCli({ VAULT_HOME: h.home, VAULT_DATABASE_URL: as.toString() }, ['roles', '--json']);
        expect(cli.code).toBe(0);
        expect(JSON.parse(cli.stdout)).toMatchObject({ session: { login, role: 'session_vault_operator' }, logins: expect.arrayContaining([{ login, superuser: false, bypassRls: false, app: true, operator: true, retention: true, legal: false, auditor: false }]) });
        expect((await runCli({ VAULT_HOME: h.home, VAULT_DATABASE_URL: as.toString() }, ['roles'])).stdout).toContain(`${login}\toperator\n`);
        // Holds are the legal role's (0042): an operator's login may not lift one.
        expect(await refusal(operator.operator({ actor: 'legal', reason: 'case 7 closed' }).clearHold('bank', 'held'))).toMatch(/^PERMISSION_DENIED .*may not act as session_vault_legal/);
      } finally {
        await operator.close();
      }
    } finally {
      h.cleanup();
      await admin.query(`DROP OWNED BY ${login}`).catch(() => {});
      await admin.query(`DROP ROLE IF EXISTS ${login}`).catch(() => {});
      await admin.end();
    }
  }, 120_000);
});
