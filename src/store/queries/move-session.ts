import { and, eq, exists, ne, sql } from 'drizzle-orm';
import type { StoredEvent } from '../../domain';
import { events, sessions } from '../schema';
import { rowsOf, type TenantTx } from '../types';
import { positional, type Statement } from '../statement';
import { batchPlaceholders, batchValues, buf } from './batch-columns';

/**
 * Deletes the rows an archived session has in the table (session_vault_clear_stray_events,
 * drizzle/0075): none can be its own, which are in its archive object, so they were
 * inserted by hand, and would make its restore fail. Returns how many; 0 unless archived.
 */
export async function clearStrayEvents(tx: TenantTx, tenant: string, session: string): Promise<number> {
  const res = await tx.execute(positional(CLEAR_STRAY, [tenant, session]));
  return Number(rowsOf<{ n: string | number }>(res)[0]?.n ?? 0);
}

const CLEAR_STRAY: Statement = {
  name: 'session_vault_clear_stray_events_v1',
  text: 'SELECT session_vault_clear_stray_events($1::text, $2::text) AS n',
};

const RESTORE_PART: Statement = {
  name: 'session_vault_restore_part_v1',
  text: `SELECT session_vault_restore_part($1::text, $2::text, $3::bigint, $4::bytea, ${batchPlaceholders(5)}) AS ok`,
};

/** Events one restore statement carries: a longer session goes back in parts (drizzle/0076; a part's size: docs/performance.md, stop 63). */
export const RESTORE_CHUNK = 100;

/**
 * Puts an archived session's events back and makes it active, one statement a part of
 * RESTORE_CHUNK events (session_vault_restore_part), so that no statement holds them all
 * (the embedded store's memory grows to its largest statement); the caller's transaction
 * keeps it whole. The parts come in seq order, 1..head, the last ending at the recorded
 * head (an archive object read a part at a time: no part is asked for before the one
 * before it is written). Returns false, writing nothing, if the session is not archived
 * at that head.
 */
export async function restoreEvents(
  tx: TenantTx,
  tenant: string,
  session: string,
  head: { seq: number; hash: Uint8Array },
  parts: Iterable<readonly StoredEvent[]> | AsyncIterable<readonly StoredEvent[]>,
): Promise<boolean> {
  let any = false;
  for await (const part of parts) {
    const res = await tx.execute(positional(RESTORE_PART, [tenant, session, head.seq, buf(head.hash), ...batchValues(part)]));
    if (rowsOf<{ ok: boolean }>(res)[0]?.ok !== true) return false; // only the first part can find the session moved: nothing written
    any = true;
  }
  return any; // an archived session has events: with none there was nothing to restore
}

/**
 * The sessions of a tenant (or the one named) that are not active yet have rows in the
 * events table: an archived or purged session holds none (its events are in its archive
 * object, or gone), so such rows were inserted by hand (verify: `stray_events`).
 */
export async function sessionsWithStrayEvents(tx: TenantTx, tenant: string, session?: string): Promise<{ session: string; headSeq: number }[]> {
  return tx
    .select({ session: sessions.sessionId, headSeq: sessions.headSeq })
    .from(sessions)
    .where(
      and(
        eq(sessions.tenantId, tenant),
        ne(sessions.status, 'active'),
        session === undefined ? undefined : eq(sessions.sessionId, session),
        exists(tx.select({ one: sql`1` }).from(events).where(and(eq(events.tenantId, sessions.tenantId), eq(events.sessionId, sessions.sessionId)))),
      ),
    )
    .orderBy(sessions.sessionId);
}
