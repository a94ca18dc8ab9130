import type { CommandContext } from '../context';
import { intFlag } from '../input';
import { json, printable } from '../output';
import { InputError } from '../../errors';
import { toOpenAiMessages } from '../../integrations';
import { collectEvents } from '../../domain';

/** `events <tenant> <session> [--from-seq N]`: decrypted events, NDJSON with --json, streamed; recorded in the access trail. */
export async function eventsCommand(ctx: CommandContext, tenant: string, session: string, flags: { fromSeq?: string; format?: string }): Promise<number> {
  const fromSeq = intFlag(flags.fromSeq, '--from-seq') ?? 1;
  if (flags.format !== undefined && flags.format !== 'openai-messages') throw new InputError('INVALID_INPUT', '--format takes openai-messages');
  if (flags.format === 'openai-messages') {
    // One JSON document (an array of Chat Completions messages), whatever --json says.
    const events = await ctx.asOperator(async (op) => collectEvents(await op.events(tenant, session, { fromSeq })));
    json(ctx.io, toOpenAiMessages(events));
    return 0;
  }
  await ctx.asOperator(async (op) => {
    for await (const e of await op.events(tenant, session, { fromSeq })) {
      const record = { seq: e.seq, type: e.type, correlationId: e.correlationId, at: e.at.toISOString(), data: e.data };
      if (ctx.config.json) json(ctx.io, record);
      else ctx.io.out(printable(`${String(e.seq).padStart(6)}  ${record.at}  ${e.type.padEnd(11)}  ${JSON.stringify(e.data)}`));
    }
  });
  return 0;
}
