import { sql } from 'drizzle-orm';
import type { StoredEvent, StoredEventType } from '../../domain';
import { rowsOf, type VaultDb } from '../types';
import { checkedType } from './read-events';
import { storageError } from '../errors';

export interface AroundRead {
  status: 'active' | 'archived' | 'purged';
  headSeq: number;
  headHash: Uint8Array | null;
  /** The tail (and the event before it) and each wanted seq with the one before it; none unless active. */
  events: StoredEvent[];
}

/** An event as session_vault_read and session_vault_state_read return it. */
export interface EventColumns {
  r_status: string;
  r_head_seq: number | string | bigint;
  r_head_hash: Uint8Array | null;
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

/**
 * A session's head and a few events in one statement, outside any transaction
 * (session_vault_read, drizzle/0020_read_around.sql, scopes itself to the tenant).
 * Null for an unknown session.
 */
export async function readAround(db: VaultDb, tenant: string, session: string, tail: number, seqs: readonly number[]): Promise<AroundRead | null> {
  // Each listed seq with its predecessor, whose hash the reader checks it against.
  const listed = [...new Set(seqs.flatMap((s) => [s - 1, s]).filter((s) => s >= 1))];
  let res: unknown;
  try {
    res = await db.execute(sql`SELECT * FROM session_vault_read(${tenant}, ${session}, ${tail}::integer, ${sql.param(listed)}::bigint[])`);
  } catch (e) {
    throw storageError(e, 'reading events'); // outside withTenant, so translated here
  }
  const rows = rowsOf<EventColumns>(res);
  const first = rows[0];
  if (!first) return null;
  const events: StoredEvent[] = [];
  const seen = new Set<number>();
  for (const r of rows) {
    if (r.r_seq === null) continue;
    const seq = Number(r.r_seq);
    if (seen.has(seq)) continue; // in the tail and listed
    seen.add(seq);
    events.push(eventOfRow(tenant, session, seq, r));
  }
  return { status: first.r_status as AroundRead['status'], headSeq: Number(first.r_head_seq), headHash: first.r_head_hash, events };
}

/** The StoredEvent of a row in session_vault_read's columns. */
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
