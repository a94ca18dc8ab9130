import { and, eq, exists, ne, sql } from 'drizzle-orm';
import type { StoredEvent } from '../../domain';
import { events, sessions } from '../schema';
import { rowsOf, type TenantTx } from '../types';
import { positional, type Statement } from '../statement';
import { batchPlaceholders, batchValues } from './batch-columns';

const RESTORE: Statement = {
  name: 'session_vault_restore_v1',
  text: `SELECT session_vault_restore($1::text, $2::text, ${batchPlaceholders(3)}) AS ok`,
};

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

/**
 * Puts an archived session's events back (session_vault_restore) and makes it active.
 * The rows must be seqs 1..head ending at the recorded head hash. Returns false, writing
 * nothing, if the session is not archived at that head.
 */
export async function restoreEvents(tx: TenantTx, tenant: string, session: string, rows: readonly StoredEvent[]): Promise<boolean> {
  const res = await tx.execute(positional(RESTORE, [tenant, session, ...batchValues(rows)]));
  return rowsOf<{ ok: boolean }>(res)[0]?.ok === true;
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
