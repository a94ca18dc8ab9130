import { and, asc, eq, gt } from 'drizzle-orm';
import { STORED_EVENT_TYPES, type StoredEventType, type StoredEvent } from '../../domain';
import { IntegrityError } from '../../errors';
import { events } from '../schema';
import type { TenantTx } from '../types';

/** A page of a session's events as stored, in seq order, after `afterSeq`. */
export async function readEvents(tx: TenantTx, tenant: string, session: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  const rows = await tx
    .select()
    .from(events)
    .where(and(eq(events.tenantId, tenant), eq(events.sessionId, session), gt(events.seq, afterSeq)))
    .orderBy(asc(events.seq))
    .limit(limit);
  return rows.map(toStoredEvent);
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
