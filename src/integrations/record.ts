import { randomUUID } from 'node:crypto';
import { VaultError } from '../errors';
import type { Logger } from '../observability';
import type { AppendOptions, AppendResult, VaultSession } from '../vault';

/** How long `recordKeyed` waits before each sending again of an append the database was unreachable for. */
const RECORD_RETRIES_MS: readonly number[] = [100, 400, 1600];

/** An event as the integrations record it: with the idempotency key that makes sending it again safe. */
export type KeyedEvent = { type: string; idempotencyKey: string; [field: string]: unknown };

/**
 * Appends events that each carry an idempotency key, sending them again while the
 * database is unreachable (STORAGE_UNAVAILABLE: a reset, a failover, a lost answer),
 * after 100 ms, 400 ms and 1.6 s; then the last error is thrown. Safe because of the
 * keys: an append whose answer was lost after it committed is answered from what was
 * stored (`deduplicated`), never stored twice; one that never reached the server is
 * stored now. Any other error is thrown at once. The integrations (RecordedChat,
 * UserMemory, the Agents SDK session, the LangGraph saver) record through this, so a
 * failover under one of their appends neither loses the record nor doubles it.
 */
export async function recordKeyed(
  session: VaultSession,
  events: readonly KeyedEvent[],
  options: AppendOptions & { logger?: Logger; op?: string } = {},
): Promise<AppendResult> {
  const { logger, op = 'record', ...appendOptions } = options;
  for (let attempt = 0; ; attempt++) {
    try {
      return await session.appendMany(events, appendOptions);
    } catch (e) {
      const wait = RECORD_RETRIES_MS[attempt];
      if (!(e instanceof VaultError && e.code === 'STORAGE_UNAVAILABLE') || wait === undefined) throw e;
      logger?.warn({ op, attempt: attempt + 1, code: e.code }, 'database unreachable; recording again');
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * Keys for one call's events: `<prefix>/<a new UUID>/<part>`. Only this call's own
 * retries reuse them, so they never collide with another call's events, whatever the
 * caller sends (the Agents SDK's items and LangGraph's checkpoints carry no id that is
 * both stable and unique to one append).
 */
export function callKeys(prefix: string): (...part: (string | number)[]) => string {
  const call = `${prefix}/${randomUUID()}`;
  return (...part) => [call, ...part].join('/');
}
