import { InputError } from '../../errors';
import type { AgentState } from '../../replay';
import type { CommandContext } from '../context';
import { intFlag, timeFlag } from '../input';
import { json, printable } from '../output';

/** `replay <tenant> <session> [--at-seq N | --at ISO] [--window N]`: the agent state rebuilt from decrypted events. */
export async function replayCommand(ctx: CommandContext, tenant: string, session: string, flags: { atSeq?: string; at?: string; window?: string }): Promise<number> {
  if (flags.atSeq !== undefined && flags.at !== undefined) throw new InputError('INVALID_INPUT', 'give --at-seq or --at, not both');
  const atSeq = intFlag(flags.atSeq, '--at-seq', 0);
  const at = timeFlag(flags.at, '--at');
  const window = intFlag(flags.window, '--window', 1);
  const state = await ctx.asOperator((op) => op.state(tenant, session, { atSeq, at, ...(window !== undefined ? { window } : {}) }));
  if (ctx.config.json) json(ctx.io, state);
  else ctx.io.out(renderState(state));
  return 0;
}

/** A human-readable rendering of agent state. */
export function renderState(s: AgentState): string {
  const lines = [
    `${s.tenant}/${s.session}  agent ${s.agent ?? '-'}  through seq ${s.lastSeq}  head ${s.head ?? '-'}`,
    `task: ${s.currentTask ?? '(none)'}`,
    '',
    ...(s.window ? [`window: the last ${s.window.size} of each list (${s.window.omitted.messages} earlier messages and ${s.window.omitted.toolCalls} tool calls left out)`, ''] : []),
    'conversation:',
    ...s.messages.map((m) => `  [${m.seq}] ${m.role}${m.name ? ` (${m.name})` : ''}: ${m.content}`),
    '',
    'tool calls:',
    ...(s.toolCalls.length === 0
      ? ['  (none)']
      : s.toolCalls.map(
          (c) =>
            `  ${c.tool}(${JSON.stringify(c.input)}) -> ${c.resultSeq === null ? '(no result yet)' : JSON.stringify(c.output)}` +
            `${c.isError ? ' [error]' : ''}${c.durationMs !== null ? ` ${c.durationMs} ms` : ''}`,
        )),
    '',
    `tool state:  ${JSON.stringify(s.toolState)}`,
    `world state: ${JSON.stringify(s.worldState)}`,
    `summary:     ${s.summary ? `${JSON.stringify(s.summary.content)} (through seq ${s.summary.throughSeq})` : '(none)'}`,
    `usage:       ${s.usage.promptTokens} prompt + ${s.usage.completionTokens} completion tokens, $${s.usage.costUsd}`,
  ];
  return lines.map(printable).join('\n');
}
