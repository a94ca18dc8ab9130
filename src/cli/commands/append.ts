import { keyedBatch, parseEvents } from '../../domain';
import { InputError } from '../../errors';
import type { CommandContext } from '../context';
import { parseNdjson, readStdin } from '../input';
import { json } from '../output';

export interface AppendFlags {
  event?: string;
  correlationId?: string;
  agent?: string;
  idempotencyKey?: string;
}

/**
 * `append <tenant> <session>`: NDJSON on stdin, or one `--event`. Atomic: every line is
 * validated before anything is written, and the batch commits as one. With
 * `--idempotency-key KEY`, event i carries `KEY:<i>` unless it has its own key, so running
 * the same command again (after a lost answer, say) stores nothing twice.
 */
export async function appendCommand(ctx: CommandContext, tenant: string, session: string, flags: AppendFlags): Promise<number> {
  let values: unknown[];
  let lines: number[];
  if (flags.event !== undefined) {
    try {
      values = [JSON.parse(flags.event)];
    } catch {
      throw new InputError('INVALID_EVENT', '--event: not valid JSON');
    }
    lines = [1];
  } else {
    if ((ctx.stdin as { isTTY?: boolean }).isTTY) {
      throw new InputError('INVALID_INPUT', 'no events: pipe NDJSON on stdin or pass --event JSON');
    }
    ({ values, lines } = parseNdjson(await readStdin(ctx.stdin)));
  }
  if (flags.idempotencyKey !== undefined) values = keyedBatch(values, flags.idempotencyKey);
  const label = flags.event !== undefined ? () => '--event' : (i: number) => `line ${lines[i]}`;
  parseEvents(values, label); // name the line before the vault (which validates again) is even opened
  const r = await ctx.withVault((v) =>
    v.session(tenant, session).appendMany(values, { correlationId: flags.correlationId, agent: flags.agent }),
  );
  if (ctx.config.json) {
    json(ctx.io, {
      tenant: r.tenant,
      session: r.session,
      appended: r.appended,
      firstSeq: r.firstSeq,
      lastSeq: r.lastSeq,
      head: r.head,
      correlationId: r.correlationId,
      deduplicated: r.deduplicated,
    });
  } else {
    const what = r.deduplicated ? 'already stored (idempotent retry)' : 'appended';
    ctx.io.out(`${r.appended} event(s) ${what}: ${r.tenant}/${r.session} seq ${r.firstSeq}..${r.lastSeq}, head ${r.head}`);
  }
  return 0;
}
