import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { openVault, type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { createLogger } from '../../src/observability';
import { refusal } from '../support/refusal';

/**
 * The read-only auditor role: `verify`, sessions, the access trail and holds read as
 * ever; every write is refused by the database itself, performed as the auditor would try
 * it, through the API and in SQL.
 */
afterAll(dropCreatedDatabases);

const quiet = createLogger({ level: 'silent' });

describe.each(backends())('the auditor role on $name', (backend) => {
  it('reads and verifies everything, writes nothing', async () => {
    const h = await tempHome();
    const database = backend.name === 'pglite' ? undefined : await backend.database();
    const app = await openVault({ home: h.home, database, logger: quiet });
    await app.createTenant('bank');
    await app.session('bank', 's').append({ type: 'message', role: 'user', content: 'audited' });
    await app.operator({ actor: 'legal', reason: 'case 7' }).setHold('bank', 's');
    await app.close();

    const auditor: Vault = await openVault({ home: h.home, database, appRole: 'session_vault_auditor', migrate: false, logger: quiet });
    try {
      expect(storeOf(auditor).layout.role).toBe('session_vault_auditor');
      expect(await auditor.verify()).toMatchObject({ ok: true, sessions: 1, problems: [] });
      expect((await auditor.sessions('bank')).map((s) => s.session)).toEqual(['s']);
      expect((await auditor.holds('bank')).map((x) => x.session)).toEqual(['s']);
      const trail = [];
      for await (const r of auditor.accessLog()) trail.push(r.action);
      expect(trail).toContain('hold.set');
      // Writes: through the API, and straight in SQL.
      expect(await refusal(auditor.session('bank', 's').append({ type: 'task', task: 'forged' }))).toMatch(/permission denied/);
      expect(await refusal(auditor.createTenant('intruder'))).toMatch(/permission denied/);
      const db = storeOf(auditor).db;
      const asTenant = (q: string) =>
        db.transaction(async (tx) => {
          await tx.execute(sql`SELECT set_config('vault.tenant', 'bank', true)`);
          return tx.execute(sql.raw(q));
        });
      for (const q of [
        `UPDATE sessions SET head_seq = 0 WHERE session_id = 's'`,
        `INSERT INTO access_log (actor, action, outcome) VALUES ('auditor', 'forged', 'granted')`,
        `UPDATE legal_holds SET cleared_at = now() WHERE session_id = 's'`,
        `DELETE FROM snapshots`,
        `INSERT INTO checkpoints (tenant_id, session_id, seq, key_id, hash, signed_at, note) VALUES ('bank', 's', 9, 'k', '\\x00', now(), 'n')`,
      ]) {
        expect(await refusal(asTenant(q))).toMatch(/permission denied/);
      }
    } finally {
      await auditor.close();
      h.cleanup();
    }
  }, 180_000);
});
