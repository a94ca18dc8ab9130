import type { CommandContext } from '../context';
import { json, printable } from '../output';
import { isoTime } from '../../domain';

/**
 * `hold set|clear <tenant> <session> --reason R`: recorded in the access trail. A session
 * `hold set` could not bring back from the archive (the store unreachable, its object
 * gone) is named on stderr: the hold stands, and the next retention run tries again.
 */
export async function holdCommand(ctx: CommandContext, action: 'set' | 'clear', tenant: string, session: string): Promise<number> {
  const { changed, status } = await ctx.asOperator(async (op, vault) => {
    const changed = await (action === 'set' ? op.setHold(tenant, session) : op.clearHold(tenant, session));
    return { changed, status: (await vault.sessionInfo(tenant, session)).status };
  });
  const state = action === 'set' ? 'held' : 'not held';
  if (ctx.config.json) json(ctx.io, { tenant, session, held: action === 'set', changed, status });
  else ctx.io.out(`${tenant}/${session}: ${state}${changed ? '' : ' (unchanged)'}`);
  if (action === 'set' && status === 'archived') {
    ctx.io.err(`warning: ${tenant}/${session} stays archived: its archive object could not be restored now (see the access trail); the next retention run restores it`);
  }
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
