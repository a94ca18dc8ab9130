import { InputError } from '../../errors';
import { importMessages, MESSAGE_FORMATS, type MessageFormat } from '../../integrations';
import type { CommandContext } from '../context';
import { readInputFile } from '../input';
import { json } from '../output';

/**
 * `import <tenant> <session> --format openai-messages|autogen FILE`: a chat history file
 * into a session, atomically (every message is parsed before anything is stored).
 */
export async function importCommand(ctx: CommandContext, tenant: string, session: string, file: string, flags: { format?: string; agent?: string }): Promise<number> {
  const format = flags.format as MessageFormat;
  if (!MESSAGE_FORMATS.includes(format)) throw new InputError('INVALID_INPUT', `--format must be one of ${MESSAGE_FORMATS.join(', ')}`);
  const text = await readInputFile(file);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new InputError('INVALID_EVENT', `${file}: not valid JSON`);
  }
  const events = importMessages(doc, format);
  const r = await ctx.withVault((v) => v.session(tenant, session).appendMany(events, { agent: flags.agent }));
  if (ctx.config.json) json(ctx.io, { tenant, session, format, imported: r.appended, firstSeq: r.firstSeq, lastSeq: r.lastSeq, head: r.head });
  else ctx.io.out(`imported ${r.appended} event(s) from ${file} (${format}) into ${tenant}/${session}, seq ${r.firstSeq}..${r.lastSeq}`);
  return 0;
}
