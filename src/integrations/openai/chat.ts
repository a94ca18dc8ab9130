import { randomUUID } from 'node:crypto';
import type OpenAI from 'openai';
import type { VaultEvent } from '../../domain';
import { InputError, StorageError } from '../../errors';
import { createLogger, withContext, type Logger } from '../../observability';
import type { VaultSession } from '../../vault';
import type { OpenAiMessage } from '../message-formats';
import { recordKeyed, type KeyedEvent } from '../record';
import { fullHistory, type ContextServices, type ContextStrategy } from './context';
import { contextEvents } from './context-events';
import { costOf, DEFAULT_PRICES, type PriceTable } from './prices';
import type { UserMemory } from './memory';

/** A tool the model may call: its JSON Schema, and the function that runs it. */
export interface ToolDefinition {
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
  /** Runs the tool. What it returns (JSON) is recorded as the result; what it throws, as an error result. */
  run(input: any, context: { correlationId: string; callId: string }): unknown;
  /** A short text of the output, recorded with it and sent to the model instead of the full output. */
  summarize?(output: unknown): string;
}

export type ToolRegistry = Readonly<Record<string, ToolDefinition>>;

export interface RecordedChatOptions {
  /** The official client, pointed wherever you like (`baseURL`). */
  client: OpenAI;
  session: VaultSession;
  model: string;
  systemPrompt?: string;
  tools?: ToolRegistry;
  /** How the model's input is built from the vault. Default: full history. */
  context?: ContextStrategy;
  /** Prices merged over DEFAULT_PRICES. */
  prices?: PriceTable;
  /** Model calls a turn may make before giving up (each tool round is one). Default 8. */
  maxRounds?: number;
  /** Stream the reply; `onDelta` sees the text as it arrives. Recorded when the stream ends or fails. */
  stream?: boolean;
  onDelta?: (text: string) => void;
  /** Inject the user's most important remembered facts into the system message. */
  memory?: { store: UserMemory; userRef: string; topK?: number };
  /** Model used to summarise for summary + recent. Default: `model`. */
  summaryModel?: string;
  logger?: Logger;
  /** The agent's name, recorded when the first turn creates the session. */
  agent?: string;
}

/** What one turn did. */
export interface TurnResult {
  correlationId: string;
  reply: string;
  /** Model calls made (1 + one per tool round). */
  rounds: number;
  toolCalls: { callId: string; tool: string; isError: boolean }[];
  usage: { promptTokens: number; completionTokens: number };
  costUsd: number;
}

interface Completion {
  content: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  usage: { promptTokens: number; completionTokens: number } | null;
  model: string;
}

/**
 * Chat turns recorded in the vault as they happen (docs/openai.md). One `send` is one
 * turn: the user's message is recorded first; each model call's reply is recorded with
 * its tool calls in one atomic append (model, usage, cost from the price table, latency);
 * each tool runs and its result (or error) is recorded at once, with its duration; the
 * loop ends when the model answers without calling tools. Every event and log line of
 * the turn carries one correlation id. A failing model call is recorded as a
 * `model_error` event (with whatever a broken stream had delivered) and thrown as
 * MODEL_UNAVAILABLE: the record of the turn is never lost.
 *
 * Every event is recorded under an idempotency key derived from the turn (its correlation
 * id, the round, the position), and sent again while the database is unreachable
 * (`record`): an append whose answer a reset or a failover cut off may have landed, and
 * sent again under the same keys it is answered from what was stored. A tool that moved
 * money is recorded once, not lost and not twice.
 */
export class RecordedChat {
  private readonly logger: Logger;
  private readonly prices: PriceTable;

  constructor(private readonly o: RecordedChatOptions) {
    this.logger = o.logger ?? createLogger({ level: process.env.VAULT_LOG_LEVEL ?? 'info' });
    this.prices = { ...DEFAULT_PRICES, ...(o.prices ?? {}) };
    if (o.maxRounds !== undefined && (!Number.isInteger(o.maxRounds) || o.maxRounds < 1)) throw new InputError('INVALID_CONFIG', 'maxRounds must be a positive integer');
  }

  /** Runs one turn for the user's message and resolves with the model's final answer. */
  async send(userText: string): Promise<TurnResult> {
    if (typeof userText !== 'string' || userText.length === 0) throw new InputError('INVALID_INPUT', 'a user message is a non-empty string');
    const correlationId = randomUUID();
    // The context puts correlation id, tenant and session on every log line, once each.
    return withContext({ correlationId, tenant: this.o.session.tenant, session: this.o.session.id }, () => this.turn(userText, correlationId));
  }

  private async turn(userText: string, correlationId: string): Promise<TurnResult> {
    const { session } = this.o;
    const log = this.logger;
    log.info({ op: 'chat.turn' }, 'turn started');
    const key = (...part: (string | number)[]) => [correlationId, ...part].join('/');
    await this.record([{ type: 'message', role: 'user', content: userText, idempotencyKey: key('user') }], log, { agent: this.o.agent });
    const result: TurnResult = { correlationId, reply: '', rounds: 0, toolCalls: [], usage: { promptTokens: 0, completionTokens: 0 }, costUsd: 0 };
    const facts = this.o.memory ? await this.o.memory.store.top(this.o.memory.userRef, this.o.memory.topK ?? 5) : [];
    for (;;) {
      if (result.rounds >= (this.o.maxRounds ?? 8)) {
        throw new InputError('TOOL_LOOP_LIMIT', `the model was still calling tools after ${result.rounds} calls; the turn stopped (everything so far is recorded)`);
      }
      result.rounds++;
      const strategy = this.o.context ?? fullHistory();
      const events = await contextEvents(session, strategy.reach);
      const round = result.rounds;
      if (round === 1) await this.recordInstructions(events, facts, key('instructions'), log);
      const messages = await strategy.build({ events, systemPrompt: this.o.systemPrompt, facts }, this.services((...part) => key(round, ...part), log));
      const started = Date.now();
      const completion = await this.call(messages, key(round, 'error'), log);
      const latencyMs = Date.now() - started;
      const usage = completion.usage ?? undefined;
      const costUsd = usage ? costOf(completion.model, usage, this.prices) : undefined;
      await this.record(
        [
          { type: 'message', role: 'assistant', content: completion.content, model: completion.model, latencyMs, ...(usage ? { usage } : {}), ...(costUsd !== undefined ? { costUsd } : {}), idempotencyKey: key(round, 'reply') },
          ...completion.toolCalls.map((c, i) => ({ type: 'tool_call', callId: c.id, tool: c.name, input: parseArguments(c.arguments), idempotencyKey: key(round, 'call', i) })),
        ],
        log,
      );
      if (usage) {
        result.usage.promptTokens += usage.promptTokens;
        result.usage.completionTokens += usage.completionTokens;
      }
      result.costUsd = Math.round((result.costUsd + (costUsd ?? 0)) * 1e9) / 1e9;
      log.info({ op: 'chat.model', model: completion.model, latencyMs, toolCalls: completion.toolCalls.length, promptTokens: usage?.promptTokens, completionTokens: usage?.completionTokens }, 'model answered');
      if (completion.toolCalls.length === 0) {
        result.reply = completion.content;
        log.info({ op: 'chat.turn', rounds: result.rounds, costUsd: result.costUsd }, 'turn finished');
        return result;
      }
      for (const [i, call] of completion.toolCalls.entries()) result.toolCalls.push(await this.runTool(call, correlationId, key(round, 'result', i), log));
    }
  }

  /**
   * Records what the model is told besides the conversation (the system prompt and the
   * remembered facts) when it differs from what was last recorded in the session: the
   * vault can then show the instructions behind every model call. Sealed like any event.
   */
  private async recordInstructions(events: readonly VaultEvent[], facts: readonly string[], idempotencyKey: string, log: Logger): Promise<void> {
    const wanted = { systemPrompt: this.o.systemPrompt ?? null, facts: [...facts] };
    let last: unknown = null;
    for (const e of events) if (e.type === 'instructions') last = e.data;
    const same = last !== null && JSON.stringify(last) === JSON.stringify(wanted);
    if (!same && (last !== null || wanted.systemPrompt !== null || wanted.facts.length > 0)) {
      await this.record([{ type: 'instructions', ...wanted, idempotencyKey }], log);
    }
  }

  /** Runs one tool call and records its result (or its error) with its duration. */
  private async runTool(call: Completion['toolCalls'][number], correlationId: string, idempotencyKey: string, log: Logger): Promise<TurnResult['toolCalls'][number]> {
    const tool = this.o.tools?.[call.name];
    const started = Date.now();
    let output: unknown;
    let isError = false;
    let summary: string | undefined;
    try {
      if (!tool) throw new Error(`unknown tool ${call.name}`);
      const input = JSON.parse(call.arguments || '{}');
      output = await tool.run(input, { correlationId, callId: call.id });
      summary = tool.summarize?.(output);
    } catch (e) {
      isError = true;
      output = { error: e instanceof SyntaxError ? 'the arguments were not valid JSON' : e instanceof Error ? e.message : String(e) };
    }
    const durationMs = Date.now() - started;
    await this.record([{ type: 'tool_result', callId: call.id, output: toJson(output), durationMs, isError, ...(summary !== undefined ? { summary } : {}), idempotencyKey }], log);
    log.info({ op: 'chat.tool', tool: call.name, durationMs, isError }, 'tool ran');
    return { callId: call.id, tool: call.name, isError };
  }

  /** One model call, streamed or not; a failure is recorded, then thrown as MODEL_UNAVAILABLE. */
  private async call(messages: OpenAiMessage[], errorKey: string, log: Logger): Promise<Completion> {
    const tools = Object.entries(this.o.tools ?? {}).map(([name, t]) => ({
      type: 'function' as const,
      function: { name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters },
    }));
    const request = { model: this.o.model, messages: messages as any, ...(tools.length > 0 ? { tools } : {}) };
    const started = Date.now();
    let partial = '';
    try {
      if (!this.o.stream) {
        const r = await this.o.client.chat.completions.create(request);
        const m = r.choices[0]?.message;
        return {
          content: m?.content ?? '',
          toolCalls: (m?.tool_calls ?? []).flatMap((c) => (c.type === 'function' ? [{ id: c.id, name: c.function.name, arguments: c.function.arguments }] : [])),
          usage: r.usage ? { promptTokens: r.usage.prompt_tokens, completionTokens: r.usage.completion_tokens } : null,
          model: r.model ?? this.o.model,
        };
      }
      const stream = await this.o.client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
      const calls: { id: string; name: string; arguments: string }[] = [];
      let usage: Completion['usage'] = null;
      let model = this.o.model;
      for await (const chunk of stream) {
        model = chunk.model ?? model;
        if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
        const delta = chunk.choices[0]?.delta;
        if (delta?.content) {
          partial += delta.content;
          this.o.onDelta?.(delta.content);
        }
        for (const t of delta?.tool_calls ?? []) {
          const c = (calls[t.index] ??= { id: '', name: '', arguments: '' });
          if (t.id) c.id = t.id;
          if (t.function?.name) c.name += t.function.name;
          if (t.function?.arguments) c.arguments += t.function.arguments;
        }
      }
      return { content: partial, toolCalls: calls.filter(Boolean), usage, model };
    } catch (e) {
      const status = (e as { status?: number }).status;
      const code = (e as { code?: string | null }).code ?? undefined;
      const message = e instanceof Error ? e.message.slice(0, 2000) : 'model call failed';
      const failure = {
        type: 'model_error',
        model: this.o.model,
        message,
        latencyMs: Date.now() - started,
        stream: this.o.stream === true,
        ...(status !== undefined ? { status } : {}),
        ...(typeof code === 'string' ? { code: code.slice(0, 200) } : {}),
        ...(partial ? { partialContent: partial } : {}),
        idempotencyKey: errorKey,
      };
      await this.record([failure], log);
      log.warn({ op: 'chat.model', status, code, latencyMs: Date.now() - started }, 'model call failed');
      throw new StorageError('MODEL_UNAVAILABLE', `the model call failed${status ? ` (HTTP ${status})` : ''}; the failure is recorded in the session`, { cause: e });
    }
  }

  /** Appends the turn's events, each with its idempotency key, sending them again while the database is unreachable (integrations/record.ts). */
  private async record(events: readonly KeyedEvent[], log: Logger, options: { agent?: string | undefined } = {}): Promise<void> {
    await recordKeyed(this.o.session, events, { logger: log, op: 'chat.record', ...(options.agent === undefined ? {} : { agent: options.agent }) });
  }

  /** The model as summariser, and the session as where summaries are recorded (keyed by `key`). */
  private services(key: (...part: (string | number)[]) => string, log: Logger): ContextServices {
    return {
      summarize: async (messages, previous) => {
        const r = await this.o.client.chat.completions.create({
          model: this.o.summaryModel ?? this.o.model,
          messages: [
            { role: 'system', content: 'Summarise the conversation below for your own later reference: facts, decisions, open questions, tool results that matter. Be concise.' },
            ...(previous ? [{ role: 'system' as const, content: `Summary so far:\n${previous}` }] : []),
            { role: 'user', content: messages.map((m) => `${m.role}: ${m.content ?? JSON.stringify(m.tool_calls ?? [])}`).join('\n') },
          ],
        });
        return r.choices[0]?.message?.content ?? '';
      },
      recordSummary: async (content, throughSeq) => {
        await this.record([{ type: 'summary', content, throughSeq, idempotencyKey: key('summary', throughSeq) }], log);
      },
    };
  }
}

/** Tool arguments as recorded: the parsed object, or the raw text when it is not JSON. */
function parseArguments(text: string): unknown {
  try {
    return toJson(JSON.parse(text || '{}'));
  } catch {
    return text;
  }
}

function toJson(v: unknown): any {
  if (v === undefined) return null;
  return JSON.parse(JSON.stringify(v));
}
