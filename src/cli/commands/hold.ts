import type { CommandContext } from '../context';
import { json, printable } from '../output';
import { isoTime } from '../../domain';

/** `hold set|clear <tenant> <session> --reason R`: recorded in the access trail. */
export async function holdCommand(ctx: CommandContext, action: 'set' | 'clear', tenant: string, session: string): Promise<number> {
  const changed = await ctx.asOperator((op) => (action === 'set' ? op.setHold(tenant, session) : op.clearHold(tenant, session)));
  const state = action === 'set' ? 'held' : 'not held';
  if (ctx.config.json) json(ctx.io, { tenant, session, held: action === 'set', changed });
  else ctx.io.out(`${tenant}/${session}: ${state}${changed ? '' : ' (unchanged)'}`);
  return 0;
}

/** `hold list [--tenant T]`. */
export async function holdListCommand(ctx: CommandContext, flags: { tenant?: string }): Promise<number> {
  const holds = await ctx.withVault((v) => v.holds(flags.tenant));
  const rows = holds.map((h) => ({ tenant: h.tenant, session: h.session, reason: h.reason, setBy: h.setBy, setAt: isoTime(h.setAt) }));
  if (ctx.config.json) json(ctx.io, rows);
  else if (rows.length === 0) ctx.io.out('no legal holds');
  else for (const h of rows) ctx.io.out(`${h.tenant}/${h.session}\t${h.setAt}\t${printable(h.setBy)}\t${printable(h.reason)}`);
  return 0;
}
