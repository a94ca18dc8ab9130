import type { CommandContext } from '../context';
import { json } from '../output';
import type { LoginRoles } from '../../store';

/**
 * `roles`: who may act as the vault's database roles. Each login of the server that is a
 * member of the application, operator, retention, legal or auditor role, or a superuser (who may act as
 * any), and the login and role this command connected as. Read-only, needs no keyring;
 * for a review of separation of duties (docs/operations.md, "Database roles").
 */
export async function rolesCommand(ctx: CommandContext): Promise<number> {
  const report = await ctx.withVault((v) => v.roles());
  if (ctx.config.json) {
    json(ctx.io, report);
    return 0;
  }
  const { roles } = report;
  ctx.io.out(`connected as ${report.session.login}, acting as ${report.session.role}`);
  ctx.io.out(`roles: application ${roles.app}, retention ${roles.retention}, operator ${roles.operator}, legal ${roles.legal}, auditor ${roles.auditor}`);
  for (const l of report.logins) ctx.io.out(`${l.login}\t${mayActAs(l)}`);
  for (const f of report.findings) ctx.io.out(`finding: ${f.login} ${f.says}`);
  return 0;
}

function mayActAs(l: LoginRoles): string {
  if (l.superuser) return 'superuser: any role, past row-level security';
  const roles = [l.operator ? 'operator' : l.retention ? 'retention' : null, l.legal ? 'legal' : null, !l.retention && !l.legal && l.app ? 'application' : null, l.auditor ? 'auditor' : null].filter((r) => r !== null);
  return `${roles.join(', ')}${l.bypassRls ? ' (BYPASSRLS: past row-level security)' : ''}`;
}
