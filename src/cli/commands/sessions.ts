import type { CommandContext } from '../context';
import { json, printable } from '../output';

/** `sessions <tenant>`. */
export async function sessionsCommand(ctx: CommandContext, tenant: string): Promise<number> {
  const list = await ctx.withVault((v) => v.sessions(tenant));
  if (ctx.config.json) json(ctx.io, list);
  else if (list.length === 0) ctx.io.out(`no sessions in ${tenant}`);
  else {
    ctx.io.out('SESSION\tAGENT\tEVENTS\tLAST EVENT\tSTATUS');
    for (const s of list) ctx.io.out(`${s.session}\t${printable(s.agent ?? '-')}\t${s.events}\t${s.lastAt ?? '-'}\t${s.status}`);
  }
  return 0;
}
