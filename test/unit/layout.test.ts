import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { actingRole, holdRole, migrationSql, storeLayout } from '../../src/store/layout';
import { MIGRATIONS_FOLDER } from '../../src/store';

const files = readdirSync(MIGRATIONS_FOLDER).filter((f) => f.endsWith('.sql'));
const sqlOf = (f: string) => readFileSync(path.join(MIGRATIONS_FOLDER, f), 'utf8');

describe('store layout', () => {
  it('the legacy layout (public, session_vault_app) runs the migrations byte for byte', () => {
    const legacy = storeLayout('public');
    expect(legacy.migrationsSchema).toBe('drizzle');
    for (const f of files) expect(migrationSql(sqlOf(f), legacy)).toBe(sqlOf(f));
  });

  it('another schema and role leave no `public`, `drizzle.` or default role in any migration', () => {
    const layout = storeLayout('bank_vault', 'bank_vault_app');
    expect(layout.migrationsSchema).toBe('bank_vault');
    expect(layout).toMatchObject({ appRole: 'bank_vault_app', operatorRole: 'bank_vault_operator', retentionRole: 'bank_vault_retention', legalRole: 'bank_vault_legal', auditorRole: 'bank_vault_auditor', role: 'bank_vault_app' });
    for (const f of files) {
      const out = migrationSql(sqlOf(f), layout);
      expect(out).not.toMatch(/\bpublic\b/);
      expect(out).not.toMatch(/\bdrizzle\.|SCHEMA drizzle\b/);
      expect(out).not.toMatch(/\bsession_vault_app\b|\bsession_vault_operator\b|\bsession_vault_retention\b|\bsession_vault_legal\b|\bsession_vault_auditor\b/);
      // function names that merely start like the role stay as they are
      expect((out.match(/session_vault_append\b/g) ?? []).length).toBe((sqlOf(f).match(/session_vault_append\b/g) ?? []).length);
    }
  });

  it('any role of a family names the family, and is the role acted as; none asked for is the operator role, else the retention role, else the application role, as the login may', () => {
    const family = { appRole: 'claims_app', operatorRole: 'claims_operator', retentionRole: 'claims_retention', legalRole: 'claims_legal', auditorRole: 'claims_auditor' };
    for (const role of ['claims_app', 'claims_operator', 'claims_retention', 'claims_legal', 'claims_auditor']) {
      const layout = storeLayout('claims', role);
      expect(layout).toMatchObject({ ...family, role, roleAsked: true });
      expect(actingRole(layout, { operate: false, retain: false }).role).toBe(role); // asked for: kept, whatever the login
      expect(holdRole(layout)).toBeNull(); // and holds are placed as it: asking for less is never made more
    }
    expect(storeLayout('claims', 'agent')).toMatchObject({ appRole: 'agent', operatorRole: 'agent_operator', retentionRole: 'agent_retention', legalRole: 'agent_legal', auditorRole: 'agent_auditor', role: 'agent' });
    const unasked = storeLayout();
    expect(unasked).toMatchObject({ appRole: 'session_vault_app', role: 'session_vault_operator', roleAsked: false });
    expect(actingRole(unasked, { operate: true, retain: true }).role).toBe('session_vault_operator');
    expect(actingRole(unasked, { operate: false, retain: true }).role).toBe('session_vault_retention'); // the retention job's login
    expect(actingRole(unasked, { operate: false, retain: false }).role).toBe('session_vault_app');
    expect(holdRole(unasked)).toBe('session_vault_legal'); // none asked for: a hold's transaction acts as the legal role
    expect(() => storeLayout('ok', `${'a'.repeat(54)}_app`)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' })); // a_…_retention would be 64
    expect(storeLayout('ok', `${'a'.repeat(53)}_app`).retentionRole).toHaveLength(63);
  });

  it('refuses names that are not plain lower-case identifiers, before any SQL', () => {
    const bad = ['', 'Vault', 'a-b', 'x;DROP TABLE events', '"q"', 'pg_vault', 'information_schema', 'a'.repeat(64), 'ü'];
    for (const name of bad) {
      expect(() => storeLayout(name)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
      expect(() => storeLayout('ok', name)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    }
    fc.assert(
      fc.property(fc.string({ maxLength: 70 }), (name) => {
        let accepted = true;
        try {
          storeLayout(name);
        } catch {
          accepted = false;
        }
        // whatever is accepted is safe to splice into SQL unquoted
        return !accepted || (/^[a-z_][a-z0-9_]*$/.test(name) && name.length <= 63);
      }),
    );
  });
});
