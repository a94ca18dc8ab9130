import type { CommandContext } from '../context';
import { intFlag } from '../input';
import { json } from '../output';

/** `events <tenant> <session> [--from-seq N]`: decrypted events, NDJSON with --json, streamed; recorded in the access trail. */
export async function eventsCommand(ctx: CommandContext, tenant: string, session: string, flags: { fromSeq?: string }): Promise<number> {
  const fromSeq = intFlag(flags.fromSeq, '--from-seq') ?? 1;
  await ctx.asOperator(async (op) => {
    for await (const e of await op.events(tenant, session, { fromSeq })) {
      const record = { seq: e.seq, type: e.type, correlationId: e.correlationId, at: e.at.toISOString(), data: e.data };
      if (ctx.config.json) json(ctx.io, record);
      else ctx.io.out(`${String(e.seq).padStart(6)}  ${record.at}  ${e.type.padEnd(11)}  ${JSON.stringify(e.data)}`);
    }
  });
  return 0;
}
