import type { CommandContext } from '../context';
import { json } from '../output';

/**
 * `checkpoint [<tenant> [<session>]]`: sign the current chain heads now and record them
 * with the witness. Exit 1 when the witness refuses a head (it holds a later or
 * different one: the database was rolled back or forked), or when a head is left unsigned
 * (no trusted key signed it, where the session's earlier heads are: events written
 * without the signing key).
 */
export async function checkpointCommand(ctx: CommandContext, tenant?: string, session?: string): Promise<number> {
  const results = await ctx.withVault((v) => v.checkpoint({ tenant, session }));
  const refused = results.filter((r) => r.witness === 'witness_ahead' || r.witness === 'witness_fork');
  const unsigned = results.filter((r) => r.witness === 'unsigned_head');
  if (ctx.config.json) json(ctx.io, results);
  else {
    for (const r of results) ctx.io.out(`${r.tenant}/${r.session} seq ${r.seq} head ${r.head}: ${r.witness}`);
    ctx.io.out(
      `${results.length - unsigned.length} checkpoint(s) signed` +
        (refused.length ? `; WITNESS REFUSED ${refused.length} (database behind or forked from the witness)` : '') +
        (unsigned.length ? `; NOT SIGNED ${unsigned.length} (heads no trusted key signed: events written without the signing key; see verify)` : ''),
    );
  }
  return refused.length + unsigned.length > 0 ? 1 : 0;
}
