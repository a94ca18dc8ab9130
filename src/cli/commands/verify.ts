import type { VerifyReport } from '../../vault';
import type { CommandContext } from '../context';
import { json } from '../output';

/** `verify [<tenant> [<session>]]`: chains and heads, no keys needed. Exit 1 on any problem. */
export async function verifyCommand(ctx: CommandContext, tenant?: string, session?: string): Promise<number> {
  const report = await ctx.withVault((v) => v.verify({ tenant, session }));
  if (ctx.config.json) json(ctx.io, report);
  else ctx.io.out(renderReport(report));
  return report.ok ? 0 : 1;
}

export function renderReport(r: VerifyReport): string {
  const head = `${r.ok ? 'OK' : 'INTEGRITY PROBLEMS'}: ${r.sessions} session(s), ${r.events} event(s) checked`;
  return [head, ...r.problems.map((p) => `  ${p.tenant}/${p.session}${where(p)}: ${p.kind}`)].join('\n');
}

/** An event's seq; for a legal hold or a tenant's retention policy, the access record's, when there is one (audit/hold-check.ts, retention/recorded-policy.ts). */
function where(p: VerifyReport['problems'][number]): string {
  if (!p.kind.startsWith('hold_') && p.kind !== 'policy_unrecorded') return ` seq ${p.seq}`;
  return p.seq > 0 ? ` access record ${p.seq}` : '';
}
