import type { AgentInputItem, Session } from '@openai/agents';
import { InputError, VaultError } from '../../errors';
import type { Logger } from '../../observability';
import type { VaultSession } from '../../vault';
import { callKeys, recordKeyed, type KeyedEvent } from '../record';
import { costOf, DEFAULT_PRICES, type PriceTable } from './prices';

/** What recordRun reads of an Agents SDK RunResult: the run's token totals, and the agent's model. */
export interface RunUsageSource {
  state: { usage: { requests: number; inputTokens: number; outputTokens: number } };
  lastAgent?: { model?: unknown } | undefined;
}

/**
 * The OpenAI Agents SDK's `Session` on a vault session, so that
 * `run(agent, input, { session: new VaultAgentSession(vault.session(t, s)) })` persists
 * the conversation encrypted, chained and auditable. Items are stored as `agent_item`
 * events, exactly as the SDK hands them over (the SDK gets them back byte for byte).
 * `popItem` and `clearSession` append `retraction` events: the log stays append-only,
 * and replay (and `getItems`) leave the retracted items out.
 *
 * Every append carries idempotency keys new to the call and is sent again while the
 * database is unreachable (integrations/record.ts): a failover under `addItems` neither
 * loses the turn's items nor stores them twice, and a `popItem` whose answer was lost
 * retracts one item, not two.
 */
export class VaultAgentSession implements Session {
  readonly #logger: Logger | undefined;

  constructor(
    private readonly session: VaultSession,
    options: { logger?: Logger } = {},
  ) {
    this.#logger = options.logger;
  }

  async getSessionId(): Promise<string> {
    return this.session.id;
  }

  /**
   * The live items, oldest first; with `limit`, the most recent `limit` of them (what the
   * SDK asks for every turn), at a cost that does not grow with the session: up to the
   * vault's `snapshotWindow` off its latest state, beyond it read back from the head,
   * costing what how far back those items are does.
   */
  async getItems(limit?: number): Promise<AgentInputItem[]> {
    if (limit === undefined) return (await this.live()).map((i) => i.item as AgentInputItem);
    if (limit <= 0) return [];
    try {
      // Off the latest state (held in memory, or a snapshot plus the events after it) while it keeps that many items.
      if (limit <= this.session.flatWindow) return (await this.session.state({ window: limit })).agentItems.map((i) => i.item as AgentInputItem);
      const recent = lastLiveItems(limit);
      for await (const e of this.session.eventsBackward(Math.min(4096, Math.max(8, limit * 2)))) if (recent.add(e)) break;
      return recent.items().map((i) => i.item as AgentInputItem);
    } catch (e) {
      if (e instanceof VaultError && e.code === 'UNKNOWN_SESSION') return [];
      throw e;
    }
  }

  /** Appends the items atomically, one `agent_item` event each. */
  async addItems(items: AgentInputItem[]): Promise<void> {
    if (items.length === 0) return;
    for (const item of items) if (typeof item !== 'object' || item === null) throw new InputError('INVALID_EVENT', 'an agent item is an object');
    const key = callKeys('agents');
    await this.record(items.map((item, i) => ({ type: 'agent_item', item: JSON.parse(JSON.stringify(item)), idempotencyKey: key('item', i) })));
  }

  /** Retracts the most recent live item and returns it (undefined when there is none). */
  async popItem(): Promise<AgentInputItem | undefined> {
    const live = await this.live();
    const last = live[live.length - 1];
    if (!last) return undefined;
    await this.record([{ type: 'retraction', reason: 'pop', fromSeq: last.seq, toSeq: last.seq, idempotencyKey: callKeys('agents')('pop') }]);
    return last.item as AgentInputItem;
  }

  /** Retracts every item so far. The events stay (and verify); the SDK sees an empty session. */
  async clearSession(): Promise<void> {
    const live = await this.live();
    if (live.length === 0) return;
    await this.record([{ type: 'retraction', reason: 'clear', fromSeq: 1, toSeq: live[live.length - 1]!.seq, idempotencyKey: callKeys('agents')('clear') }]);
  }

  /**
   * Records a finished run's token counts and cost (one `usage` event, tokens and cost in
   * clear columns), which the SDK's `Session` interface never sees: call it with the
   * result of `run(agent, input, { session })`. The cost comes from the price table (none
   * for an unknown model). Returns what was recorded; nothing for a run with no tokens.
   */
  async recordRun(result: RunUsageSource, options: { model?: string; prices?: PriceTable } = {}): Promise<{ promptTokens: number; completionTokens: number; costUsd?: number } | null> {
    const u = result?.state?.usage;
    if (!u || !Number.isInteger(u.inputTokens) || !Number.isInteger(u.outputTokens)) throw new InputError('INVALID_INPUT', 'recordRun takes the result of an Agents SDK run');
    if (u.inputTokens === 0 && u.outputTokens === 0) return null;
    const model = options.model ?? (typeof result.lastAgent?.model === 'string' && result.lastAgent.model !== '' ? result.lastAgent.model : 'unknown');
    const usage = { promptTokens: u.inputTokens, completionTokens: u.outputTokens };
    const costUsd = costOf(model, usage, options.prices ?? DEFAULT_PRICES);
    await this.record([{ type: 'usage', model, requests: u.requests, usage, ...(costUsd !== undefined ? { costUsd } : {}), idempotencyKey: callKeys('agents')('usage') }]);
    return { ...usage, ...(costUsd !== undefined ? { costUsd } : {}) };
  }

  private async record(events: readonly KeyedEvent[]): Promise<void> {
    await recordKeyed(this.session, events, { op: 'agents.record', ...(this.#logger ? { logger: this.#logger } : {}) });
  }

  /** The live items as replay rebuilds them (retractions honoured). */
  private async live(): Promise<{ seq: number; item: unknown }[]> {
    try {
      return (await this.session.state()).agentItems;
    } catch (e) {
      if (e instanceof VaultError && e.code === 'UNKNOWN_SESSION') return [];
      throw e;
    }
  }
}

/**
 * Pure: the last `limit` live agent items from events handed over newest first. A
 * retraction takes back items before it (the SDK's pop and clear name earlier seqs), so
 * reading backwards, an item is live unless a retraction already seen covers it, which is
 * what replaying forwards gives. `add` says when enough are found.
 */
export function lastLiveItems(limit: number): { add(e: { seq: number; type: string; data: Record<string, unknown> }): boolean; items(): { seq: number; item: unknown }[] } {
  const ranges: [number, number][] = [];
  const found: { seq: number; item: unknown }[] = [];
  return {
    add(e) {
      if (e.type === 'retraction') ranges.push([e.data.fromSeq as number, e.data.toSeq as number]);
      else if (e.type === 'agent_item' && !ranges.some(([from, to]) => e.seq >= from && e.seq <= to)) found.push({ seq: e.seq, item: e.data.item });
      return found.length >= limit;
    },
    items: () => [...found].reverse(),
  };
}
