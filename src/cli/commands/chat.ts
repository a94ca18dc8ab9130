import readline from 'node:readline';
import { loadOptional } from '../../optional';
import { InputError, VaultError } from '../../errors';
import { RecordedChat, fullHistory, slidingWindow, summaryPlusRecent, type ContextStrategy } from '../../integrations/openai';
import { createLogger } from '../../observability';
import type { CommandContext } from '../context';

export interface ChatFlags {
  model?: string;
  system?: string;
  context?: string;
  agent?: string;
}

/**
 * `chat <tenant> <session>`: an interactive chat through the OpenAI API (OPENAI_API_KEY,
 * OPENAI_BASE_URL for a compatible server, --model or OPENAI_MODEL), every turn recorded
 * in the session; a rerun continues the same conversation. Operator access: --actor is
 * required and the access (`chat:<model host>`) is recorded first. One line a message; `/exit`
 * or end of input ends it. A failed model call is recorded, reported on stderr, and the
 * chat goes on; the exit code is then 4. Without a key: exit 2, nothing written.
 */
export async function chatCommand(ctx: CommandContext, tenant: string, session: string, flags: ChatFlags): Promise<number> {
  const { apiKey, baseURL } = ctx.config.openai;
  if (!apiKey) throw new InputError('OPENAI_KEY_MISSING', 'chat needs an OpenAI API key: set OPENAI_API_KEY (and OPENAI_BASE_URL for an OpenAI-compatible server)');
  const context = contextStrategy(flags.context ?? 'full');
  const { default: OpenAI } = await loadOptional(() => import('openai'), 'openai', 'session-vault chat');
  const client = new OpenAI({ apiKey, ...(baseURL ? { baseURL } : {}) });
  // Operator access: the whole history is decrypted and sent to a model endpoint, so the
  // operator is named and the access recorded (with where it goes) before anything is
  // read, and refused if it cannot be recorded (docs/threat-model.md).
  const endpoint = new URL(baseURL ?? 'https://api.openai.com/v1').host;
  return ctx.asOperator((op, vault) => op.recorded(`chat:${endpoint}`, { tenant, session }, async () => {
    const chat = new RecordedChat({
      client,
      session: vault.session(tenant, session),
      model: flags.model ?? ctx.config.openai.model,
      systemPrompt: flags.system,
      context,
      stream: true,
      onDelta: (text) => (ctx.io.write ? ctx.io.write(text) : undefined),
      agent: flags.agent ?? 'chat',
      logger: createLogger({ level: ctx.config.logLevel }),
    });
    let failed = false;
    const lines = readline.createInterface({ input: ctx.stdin, terminal: false });
    ctx.io.err(`chatting in ${tenant}/${session} (model ${flags.model ?? ctx.config.openai.model}); /exit to leave`);
    for await (const line of lines) {
      const text = line.trim();
      if (text === '') continue;
      if (text === '/exit') break;
      try {
        const r = await chat.send(text);
        if (ctx.io.write) ctx.io.write('\n');
        else ctx.io.out(r.reply);
      } catch (e) {
        if (!(e instanceof VaultError) || e.code !== 'MODEL_UNAVAILABLE') throw e;
        failed = true;
        ctx.io.err(`error[${e.code}]: ${e.message}`);
      }
    }
    return failed ? 4 : 0;
  }));
}

/** `full`, `window:N` (system + last N messages) or `summary:N` (summary of older turns + last N). */
function contextStrategy(spec: string): ContextStrategy {
  const m = /^(full|window|summary)(?::([1-9][0-9]{0,3}))?$/.exec(spec);
  if (!m || (m[1] !== 'full' && !m[2])) throw new InputError('INVALID_INPUT', '--context is full, window:N or summary:N');
  if (m[1] === 'full') return fullHistory();
  const n = Number(m[2]);
  return m[1] === 'window' ? slidingWindow({ lastN: n }) : summaryPlusRecent({ keepRecent: n, summarizeAfter: n });
}
