import { and, eq, inArray } from 'drizzle-orm';
import { events } from '../schema';
import type { TenantTx } from '../types';

/** The stored events of a session carrying any of these idempotency keys. */
export async function findIdempotent(
  tx: TenantTx,
  tenant: string,
  session: string,
  keys: readonly string[],
): Promise<{ idempotencyKey: string; seq: number; hash: Uint8Array; correlationId: string }[]> {
  if (keys.length === 0) return [];
  const rows = await tx
    .select({ idempotencyKey: events.idempotencyKey, seq: events.seq, hash: events.hash, correlationId: events.correlationId })
    .from(events)
    .where(and(eq(events.tenantId, tenant), eq(events.sessionId, session), inArray(events.idempotencyKey, [...keys])));
  return rows.map((r) => ({ idempotencyKey: r.idempotencyKey!, seq: r.seq, hash: r.hash, correlationId: r.correlationId }));
}
