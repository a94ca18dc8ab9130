import { keyedBatch } from '../../domain';
import { InputError } from '../../errors';
import { importMessages, MESSAGE_FORMATS, type MessageFormat } from '../../integrations';
import type { CommandContext } from '../context';
import { readInputFile } from '../input';
import { json } from '../output';

/**
 * `import <tenant> <session> --format openai-messages|autogen FILE`: a chat history file
 * into a session, atomically (every message is parsed before anything is stored). With
 * `--idempotency-key KEY`, message i is keyed `KEY:<i>`, so importing again under the same
 * key (after a lost answer, say) stores nothing twice.
 */
export async function importCommand(ctx: CommandContext, tenant: string, session: string, file: string, flags: { format?: string; agent?: string; idempotencyKey?: string }): Promise<number> {
  const format = flags.format as MessageFormat;
  if (!MESSAGE_FORMATS.includes(format)) throw new InputError('INVALID_INPUT', `--format must be one of ${MESSAGE_FORMATS.join(', ')}`);
  const text = await readInputFile(file);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new InputError('INVALID_EVENT', `${file}: not valid JSON`);
  }
  const messages = importMessages(doc, format);
  const events = flags.idempotencyKey === undefined ? messages : keyedBatch(messages, flags.idempotencyKey);
  const r = await ctx.withVault((v) => v.session(tenant, session).appendMany(events, { agent: flags.agent }));
  if (ctx.config.json) json(ctx.io, { tenant, session, format, imported: r.appended, firstSeq: r.firstSeq, lastSeq: r.lastSeq, head: r.head, deduplicated: r.deduplicated });
  else if (r.deduplicated) ctx.io.out(`already imported under this idempotency key: ${r.appended} event(s) in ${tenant}/${session}, seq ${r.firstSeq}..${r.lastSeq}; nothing new stored`);
  else ctx.io.out(`imported ${r.appended} event(s) from ${file} (${format}) into ${tenant}/${session}, seq ${r.firstSeq}..${r.lastSeq}`);
  return 0;
}
