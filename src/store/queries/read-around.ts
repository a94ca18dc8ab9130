import { sql } from 'drizzle-orm';
import type { StoredEvent } from '../../domain';
import { rowsOf, type VaultDb } from '../types';
import { eventOfRow, type EventColumns, type HeadColumns } from './read-events';
import { storageError } from '../errors';

export interface AroundRead {
  status: 'active' | 'archived' | 'purged';
  headSeq: number;
  headHash: Uint8Array | null;
  /** The tail (and the event before it) and each wanted seq with the one before it; none unless active. */
  events: StoredEvent[];
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
  const rows = rowsOf<EventColumns & HeadColumns>(res);
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
