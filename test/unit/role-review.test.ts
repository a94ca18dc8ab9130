import { reviewRoles } from '../../src/audit';
import type { LoginRoles } from '../../src/store';

const login = (name: string, roles: Partial<LoginRoles>): LoginRoles => ({ login: name, superuser: false, bypassRls: false, app: false, operator: false, retention: false, legal: false, auditor: false, ...roles });

describe('a review of who may act as the vault roles', () => {
  it('names a login that may act as both the operator and the legal role, and one with BYPASSRLS; not the split logins, not superusers', () => {
    const findings = reviewRoles([
      login('agent', { app: true }),
      login('job', { app: true, retention: true }),
      login('ops', { app: true, retention: true, operator: true }),
      login('desk', { app: true, legal: true }),
      login('both', { app: true, retention: true, operator: true, legal: true }),
      login('reporting', { auditor: true, bypassRls: true }),
      login('postgres', { superuser: true, bypassRls: true, app: true, operator: true, legal: true }),
    ]);
    expect(findings.map((f) => [f.login, f.kind])).toEqual([
      ['both', 'operator_and_legal'],
      ['reporting', 'bypass_rls'],
    ]);
    expect(findings[0]!.says).toMatch(/lift a legal hold and destroy what the hold kept/);
  });
});
