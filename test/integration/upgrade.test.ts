import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { sql } from 'drizzle-orm';
import { adminPassword, adminUrl, backends, dropCreatedDatabases, type Backend } from '../support/backends';
import { openVault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { createLogger } from '../../src/observability';
import { refusal } from '../support/refusal';
import { parseTrustedKeys, verifyTrail, type TrailLine } from '../../src/audit';
import { fromHex } from '../../src/crypto';

/**
 * A vault made by the version before the operator role (drizzle/0040) and the restore
 * trigger (0041), with its data, upgraded by this version: its events still open and
 * verify, its agent's login keeps appending and reading, an archived session comes back,
 * and what the agent's login could do before the upgrade and may not now (clear a hold) is
 * refused. The fixture is that version's own output (test/fixtures/upgrade-0039/make.cjs:
 * pg_dump of its schema, and the keyring, witness and archive folders it wrote), not a
 * fresh vault of this version with its migrations cut short.
 */
afterAll(dropCreatedDatabases);

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'upgrade-0039');
const quiet = createLogger({ level: 'silent' });
/** The roles a server had at 0039; the dump grants to them. Created as the migrations do, guarded. */
const ROLES_AT_0039 = ['session_vault_app', 'session_vault_auditor'];

/** The fixture's home folder, copied (the vault writes to it). */
function fixtureHome(): { home: string; cleanup(): void } {
  const home = mkdtempSync(path.join(os.tmpdir(), 'sv-upgrade-'));
  cpSync(path.join(FIXTURE, 'home'), home, { recursive: true });
  chmodSync(path.join(home, 'keyring.json'), 0o600); // git keeps no modes; the vault refuses a keyring others may read
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

/** Loads the 0039 dump into an empty database: on a server, or into the embedded store's folder. */
async function load0039(backend: Backend, home: string): Promise<string | undefined> {
  const dump = readFileSync(path.join(FIXTURE, 'vault.sql'), 'utf8');
  const roles = ROLES_AT_0039.map((r) => `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${r}') THEN CREATE ROLE ${r} NOLOGIN; END IF; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;`).join('\n');
  if (backend.name === 'pglite') {
    const { PGlite } = await import('@electric-sql/pglite');
    const db = new PGlite(path.join(home, 'db'));
    try {
      await db.exec(roles);
      await db.exec(dump);
    } finally {
      await db.close();
    }
    return undefined;
  }
  const url = await backend.database();
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(roles);
    await c.query(dump);
  } finally {
    await c.end();
  }
  return url;
}

describe.each(backends())('a vault made at migration 0039, upgraded, on $name', (backend) => {
  let home: string;
  let cleanup: () => void;
  let database: string | undefined;
  let agentUrl: string | undefined;
  let login: string | undefined;

  beforeAll(async () => {
    ({ home, cleanup } = fixtureHome());
    database = await load0039(backend, home);
    if (database) {
      // The agent's login as the docs said to make it at 0039: granted the application role.
      login = `sv_agent_${randomBytes(3).toString('hex')}`;
      const admin = new Client({ connectionString: adminUrl() });
      await admin.connect();
      await admin.query(`CREATE ROLE ${login} LOGIN ${adminPassword()}`);
      await admin.query(`GRANT session_vault_app TO ${login}`);
      await admin.end();
      const as = new URL(database);
      as.username = login;
      agentUrl = as.toString();
    }
  }, 120_000);
  afterAll(async () => {
    cleanup?.();
    if (login) {
      const admin = new Client({ connectionString: adminUrl() });
      await admin.connect();
      await admin.query(`DROP ROLE IF EXISTS ${login}`).catch(() => {});
      await admin.end();
    }
  });

  /** The agent's vault: its own login on a server; the application role asked for on the embedded store, which has no logins. */
  const agentVault = () => openVault({ home, database: agentUrl, migrate: false, logger: quiet, ...(agentUrl ? {} : { appRole: 'session_vault_app' }) });

  it("at 0039, the agent's login could clear a hold (shown in a transaction rolled back): the attack the upgrade closes", async () => {
    const attack = [
      'BEGIN',
      'SET LOCAL search_path TO session_vault',
      "SELECT set_config('vault.tenant', 'bank', true)",
      "UPDATE legal_holds SET cleared_at = now(), cleared_by = 'mallory', clear_reason = 'x' WHERE session_id = 'held' AND cleared_at IS NULL",
    ];
    let cleared: number;
    if (agentUrl) {
      const c = new Client({ connectionString: agentUrl });
      await c.connect();
      try {
        for (const q of attack.slice(0, -1)) await c.query(q);
        cleared = (await c.query(attack.at(-1)!)).rowCount ?? 0;
        await c.query('ROLLBACK');
      } finally {
        await c.end();
      }
    } else {
      const { PGlite } = await import('@electric-sql/pglite');
      const db = new PGlite(path.join(home, 'db'));
      try {
        for (const q of attack.slice(0, -1)) await db.query(q);
        await db.query('SET LOCAL ROLE session_vault_app');
        cleared = (await db.query(attack.at(-1)!)).affectedRows ?? 0;
        await db.query('ROLLBACK');
      } finally {
        await db.close();
      }
    }
    expect(cleared).toBe(1);
  }, 120_000);

  it('is refused to a process that may not migrate until `init` runs; migrated, what the earlier version wrote verifies', async () => {
    await expect(agentVault()).rejects.toMatchObject({ code: 'STORAGE_REFUSED', message: expect.stringMatching(/has 40 of this version's \d+ migrations: run `session-vault init`/) });
    const owner = await openVault({ home, database, logger: quiet });
    try {
      expect(storeOf(owner).layout.role).toBe('session_vault_operator');
      // Its key wraps carry no signature (0049): verify names each until the key holder's
      // `keys check --sign` has opened and signed them, as the upgrade notes say.
      const named = (await owner.verify()).problems.map((p) => `${p.session} ${p.seq} ${p.kind}`);
      expect(named.sort()).toEqual(['(tenant key) 1 tenant_key_unsigned', 'cold 1 session_key_unsigned', 'held 1 session_key_unsigned', 'live 6 session_key_unsigned']);
      // Until then the tenant is used as before (any wrap that opens); signed, it takes signed wraps only (0051).
      expect(await owner.operator({ actor: 'dana', reason: 'upgrade to 0049' }).checkKeys()).toMatchObject({ ok: true, unsigned: 4, signed: 0, signedOnly: 0 });
      expect(await owner.operator({ actor: 'dana', reason: 'upgrade to 0049' }).checkKeys(undefined, { sign: true })).toMatchObject({ ok: true, unsigned: 4, signed: 4, signedOnly: 1 });
      // What the earlier version wrote: its chains, checkpoints, archive record and trail verify.
      const report = await owner.verify();
      expect(report.problems).toEqual([]);
      expect(report).toMatchObject({ ok: true, sessions: 3 });
      // No record of the bank's since 0061 fixes its trail secret: the listing of its held
      // session, with the vault's key checks withheld, cannot be checked for the bank (any of
      // them could be the bank's in the v3 form) ...
      const keys = parseTrustedKeys(readFileSync(path.join(home, 'witness', 'public-keys.json'), 'utf8'), 'public-keys.json');
      const heldListing = async () => {
        const lines: TrailLine[] = [];
        for await (const l of owner.trailFile({ tenant: 'bank', session: 'held' })) lines.push(l);
        return lines;
      };
      const before = await heldListing();
      expect(before.filter((l) => 'withheld' in l).length).toBe(2);
      expect(verifyTrail(before, keys, { scope: { tenant: 'bank', session: 'held' } }).problems.map((p) => p.kind)).toEqual(['tenant_secret_unknown']);
      // ... until the scheduled checkpoint run writes a record that fixes it, which the bank's listing shows.
      await owner.checkpoint();
      const bank: TrailLine[] = [];
      for await (const l of owner.trailFile({ tenant: 'bank' })) bank.push(l);
      const fixedBy = bank.filter((l) => !('withheld' in l) && l.action === 'trail.secret');
      expect(fixedBy).toEqual([expect.objectContaining({ actor: '(vault)', tenant: 'bank', session: null, tenantSecret: expect.stringMatching(/^[0-9a-f]{64}$/) })]);
      const bankReport = verifyTrail(bank, keys, { witnessHead: readFileSync(path.join(home, 'witness', 'access-trail.checkpoint'), 'utf8'), scope: { tenant: 'bank' } });
      expect(bankReport).toMatchObject({ ok: true, tenantSecret: (fixedBy[0] as { tenantSecret: string }).tenantSecret, problems: [] });
      // Kept by the bank's auditor, it tells the held session's listing apart; a second run writes no second record.
      expect(verifyTrail(await heldListing(), keys, { scope: { tenant: 'bank', session: 'held' }, tenantSecret: fromHex(bankReport.tenantSecret!) })).toMatchObject({ ok: true, problems: [] });
      await owner.checkpoint();
      let again = 0;
      for await (const r of owner.accessLog({ tenant: 'bank' })) if (r.action === 'trail.secret') again++;
      expect(again).toBe(1);
    } finally {
      await owner.close();
    }
  }, 120_000);

  it("the agent's login reads what the earlier version wrote, appends, and brings its archived session back", async () => {
    const agent = await agentVault();
    try {
      expect(storeOf(agent).layout.role).toBe('session_vault_app');
      const live = await agent.session('bank', 'live').state();
      expect(live.messages.map((m) => [m.role, m.content])).toEqual([
        ['user', 'I moved to 4 Elm Street'],
        ['assistant', 'Done: policy P-7 now shows 4 Elm Street.'],
      ]);
      expect(live.toolCalls).toMatchObject([{ callId: 'c1', tool: 'lookup_policy', input: { policy: 'P-7' }, output: { holder: 'Ada', address: '1 Oak Road' } }]);
      expect(live).toMatchObject({ lastSeq: 6, currentTask: 'change the address on policy P-7', worldState: { address: '4 Elm Street' }, usage: { promptTokens: 120, completionTokens: 14, costUsd: 0.0021 } });
      await agent.session('bank', 'live').append({ type: 'message', role: 'user', content: 'thanks' });
      expect((await agent.session('bank', 'live').state()).lastSeq).toBe(7);
      // Archived by the earlier version; appending restores its events from that version's archive object.
      expect((await agent.sessionInfo('bank', 'cold')).status).toBe('archived');
      await agent.session('bank', 'cold').append({ type: 'message', role: 'assistant', content: 'welcome back' });
      expect((await agent.sessionInfo('bank', 'cold')).status).toBe('active');
      expect((await agent.session('bank', 'cold').state()).messages.map((m) => m.content)).toEqual(['customer cold', 'welcome back']);
    } finally {
      await agent.close();
    }
  }, 120_000);

  it("what the agent's login could do at 0039 and may not now is refused: clearing the hold, through the API and in SQL", async () => {
    const agent = await agentVault();
    try {
      // On a server its login may not act as the legal role (0042); on the embedded store it was asked to act as the application role.
      expect(await refusal(agent.operator({ actor: 'mallory', reason: 'routine' }).clearHold('bank', 'held'))).toMatch(/^PERMISSION_DENIED .*(insufficient privilege|may not act as session_vault_legal)/);
      const attack = withTenant(storeOf(agent).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(`UPDATE legal_holds SET cleared_at = now(), cleared_by = 'legal', clear_reason = 'x'`)));
      expect(await refusal(attack)).toMatch(/permission denied/);
      expect((await agent.holds('bank')).map((h) => h.session)).toEqual(['held']);
    } finally {
      await agent.close();
    }
    // The operator (here the owner's login) still may, and the whole vault, old and new events, verifies.
    const owner = await openVault({ home, database, logger: quiet });
    try {
      expect(await owner.operator({ actor: 'legal', reason: 'case 7 closed' }).clearHold('bank', 'held')).toBe(true);
      expect(await owner.verify()).toMatchObject({ ok: true, problems: [] });
      // Its access trail, records in the v1 form from before 0059 and the v2 form since, checks
      // offline as the bank's listing and as a session's: the old records shown in full (they
      // cannot be withheld and still checked), the new ones outside the scope withheld.
      const lines: TrailLine[] = [];
      for await (const l of owner.trailFile({ tenant: 'bank' })) lines.push(l);
      const keys = parseTrustedKeys(readFileSync(path.join(home, 'witness', 'public-keys.json'), 'utf8'), 'public-keys.json');
      const head = readFileSync(path.join(home, 'witness', 'access-trail.checkpoint'), 'utf8');
      expect(verifyTrail(lines, keys, { witnessHead: head, scope: { tenant: 'bank' } })).toMatchObject({ ok: true, problems: [] });
      const shape = (l: TrailLine) => ('withheld' in l ? 'withheld' : `${l.salt === null ? 'v1' : 'v2'} ${l.action}`);
      // The vault's own key checks (no tenant) are shown to the tenant's auditor.
      expect(lines.map(shape)).toEqual(expect.arrayContaining(['v1 hold.set', 'v2 keys.check', 'v2 hold.clear']));
      const held: TrailLine[] = [];
      for await (const l of owner.trailFile({ tenant: 'bank', session: 'held' })) held.push(l);
      expect(verifyTrail(held, keys, { witnessHead: head, scope: { tenant: 'bank', session: 'held' } })).toMatchObject({ ok: true, problems: [] });
      expect(held.map(shape)).toEqual(expect.arrayContaining(['v1 hold.set', 'withheld', 'v2 hold.clear']));
      expect(held.map(shape).indexOf('withheld')).toBeGreaterThan(held.map(shape).lastIndexOf('v1 hold.set'));
    } finally {
      await owner.close();
    }
  }, 120_000);
});
