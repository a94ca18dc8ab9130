import type { CommandContext } from '../context';
import { timeFlag } from '../input';
import { json, printable } from '../output';

/** `access-log [--tenant T] [--since ISO]`: the operator access trail; NDJSON with --json. */
export async function accessLogCommand(ctx: CommandContext, flags: { tenant?: string; since?: string }): Promise<number> {
  const since = timeFlag(flags.since, '--since');
  await ctx.withVault(async (v) => {
    for await (const r of v.accessLog({ tenant: flags.tenant, since })) {
      const record = { seq: r.seq, at: r.at.toISOString(), actor: r.actor, action: r.action, tenant: r.tenant, session: r.session, reason: r.reason, outcome: r.outcome };
      if (ctx.config.json) json(ctx.io, record);
      else ctx.io.out(printable(`${String(r.seq).padStart(6)}  ${record.at}  ${r.actor}  ${r.action}  ${r.tenant ?? '-'}/${r.session ?? '-'}  ${r.outcome}${r.reason ? `  "${r.reason}"` : ''}`));
    }
  });
  return 0;
}
