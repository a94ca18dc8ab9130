import type { LoginRoles } from '../store';

/**
 * What a review of separation of duties looks for in who may act as the vault's roles
 * (`session-vault roles`, auditor-guide.md "Who may change what"). Pure: the caller reads
 * the server's logins (store/queries/role-members.ts). Superusers are not findings of their
 * own: every server has one, and the list marks them; what a review cannot see from the
 * catalog (which host uses which login) it has to ask.
 */

export type RoleFindingKind = 'operator_and_legal' | 'bypass_rls';

export interface RoleFinding {
  login: string;
  kind: RoleFindingKind;
  /** One line, for the CLI: what the login can do that the split is meant to prevent. */
  says: string;
}

export function reviewRoles(logins: readonly LoginRoles[]): RoleFinding[] {
  const out: RoleFinding[] = [];
  for (const l of logins) {
    if (l.superuser) continue;
    if (l.operator && l.legal) {
      out.push({ login: l.login, kind: 'operator_and_legal', says: 'may act as both the operator and the legal role: alone, it can lift a legal hold and destroy what the hold kept' });
    }
    if (l.bypassRls) {
      out.push({ login: l.login, kind: 'bypass_rls', says: "has BYPASSRLS: row-level security does not keep it to one tenant's rows" });
    }
  }
  return out;
}
