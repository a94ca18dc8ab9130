import { and, eq, sql } from 'drizzle-orm';
import { STORED_EVENT_TYPES, type StoredEventType, type StoredEvent } from '../../domain';
import { IntegrityError } from '../../errors';
import { events } from '../schema';
import { rowsOf, type TenantTx } from '../types';

/** The time of event `seq` of a session, or null where it is not in the table (none, or archived). */
export async function readEventTime(tx: TenantTx, tenant: string, session: string, seq: number): Promise<Date | null> {
  const [row] = await tx
    .select({ at: events.at })
    .from(events)
    .where(and(eq(events.tenantId, tenant), eq(events.sessionId, session), eq(events.seq, seq)));
  return row?.at ?? null;
}

/**
 * A page of a session's events as stored, in seq order, after `afterSeq`: plain SQL in the
 * columns session_vault_read returns, mapped by eventOfRow. This is the hot read path,
 * where drizzle's per-row mapping cost about a third of what the driver does.
 */
export async function readEvents(tx: TenantTx, tenant: string, session: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  const res = await tx.execute(sql`
    SELECT seq AS r_seq, type AS r_type, at AS r_at, correlation_id AS r_correlation_id, idempotency_key AS r_idempotency_key,
           tool AS r_tool, prompt_tokens AS r_prompt_tokens, completion_tokens AS r_completion_tokens, cost_usd AS r_cost_usd,
           duration_ms AS r_duration_ms, key_version AS r_key_version, nonce AS r_nonce, ciphertext AS r_ciphertext, hash AS r_hash
      FROM events WHERE tenant_id = ${tenant} AND session_id = ${session} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`);
  return rowsOf<EventColumns>(res).map((r) => eventOfRow(tenant, session, Number(r.r_seq), r));
}

const KNOWN_TYPES: ReadonlySet<string> = new Set(STORED_EVENT_TYPES);

/** A stored row's type, which the CHECK constraint keeps known; a row that defies it is an integrity problem. */
export function checkedType(type: string, tenant: string, session: string, seq: number): StoredEventType {
  if (!KNOWN_TYPES.has(type)) throw new IntegrityError('CHAIN_BROKEN', `event ${seq} of ${tenant}/${session} has an unknown type`);
  return type as StoredEventType;
}

/** Maps a row to a StoredEvent. The CHECK constraint keeps types known; a row that defies it is an integrity problem. */
export function toStoredEvent(r: typeof events.$inferSelect): StoredEvent {
  checkedType(r.type, r.tenantId, r.sessionId, r.seq);
  return {
    tenant: r.tenantId,
    session: r.sessionId,
    seq: r.seq,
    type: r.type as StoredEventType,
    at: r.at,
    correlationId: r.correlationId,
    idempotencyKey: r.idempotencyKey,
    tool: r.tool,
    promptTokens: r.promptTokens,
    completionTokens: r.completionTokens,
    costUsd: r.costUsd,
    durationMs: r.durationMs,
    keyVersion: r.keyVersion,
    nonce: r.nonce,
    ciphertext: r.ciphertext,
    hash: r.hash,
  };
}

/** An event's columns as readEvents, session_vault_read and session_vault_state_read return them. */
export interface EventColumns {
  r_seq: number | string | bigint | null;
  r_type: string;
  r_at: Date | string;
  r_correlation_id: string;
  r_idempotency_key: string | null;
  r_tool: string | null;
  r_prompt_tokens: number | null;
  r_completion_tokens: number | null;
  r_cost_usd: number | null;
  r_duration_ms: number | string | bigint | null;
  r_key_version: number;
  r_nonce: Uint8Array;
  r_ciphertext: Uint8Array;
  r_hash: Uint8Array;
}

/** The session's columns that session_vault_read and session_vault_state_read put on every row. */
export interface HeadColumns {
  r_status: string;
  r_head_seq: number | string | bigint;
  r_head_hash: Uint8Array | null;
}

/** The StoredEvent of a row in those columns. */
export function eventOfRow(tenant: string, session: string, seq: number, r: EventColumns): StoredEvent {
  return {
    tenant,
    session,
    seq,
    type: checkedType(r.r_type, tenant, session, seq) as StoredEventType,
    at: r.r_at instanceof Date ? r.r_at : new Date(r.r_at),
    correlationId: r.r_correlation_id,
    idempotencyKey: r.r_idempotency_key,
    tool: r.r_tool,
    promptTokens: r.r_prompt_tokens,
    completionTokens: r.r_completion_tokens,
    costUsd: r.r_cost_usd,
    durationMs: r.r_duration_ms === null ? null : Number(r.r_duration_ms),
    keyVersion: r.r_key_version,
    nonce: r.r_nonce,
    ciphertext: r.r_ciphertext,
    hash: r.r_hash,
  };
}
