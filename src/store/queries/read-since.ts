import type { StoredEvent } from '../../domain';
import type { Store } from '../types';
import type { Statement } from '../statement';
import { eventOfRow, type EventColumns, type HeadColumns } from './read-events';
import { storageError } from '../errors';

const READ_SINCE: Statement = {
  name: 'session_vault_read_since_v1',
  text: 'SELECT * FROM session_vault_read_since($1::text, $2::text, $3::bigint, $4::integer)',
};

export interface SinceRead {
  status: 'active' | 'archived' | 'purged';
  /** False once the session's data key is shredded: then no events come. */
  keyed: boolean;
  headSeq: number;
  headHash: Uint8Array | null;
  /** The seq of the session's latest snapshot (0: none). */
  snapshotSeq: number;
  /** The row at the held seq, as far as the reader needs it (its hash), if it is there. */
  held: { seq: number; hash: Uint8Array } | null;
  /** The rows after it, in seq order; none unless active and keyed. */
  events: StoredEvent[];
  /** Whether the statement returned as many rows as it was allowed: more may follow. */
  full: boolean;
}

/**
 * A session's head, its latest snapshot's seq and its events from seq `have` on, in one statement outside any
 * transaction (session_vault_read_since, drizzle/0031_read_since.sql, scopes itself to
 * the tenant): at most `limit` rows, the one at `have` without its ciphertext. Null for an
 * unknown session.
 */
export async function readSince(store: Store, tenant: string, session: string, have: number, limit: number): Promise<SinceRead | null> {
  let rows: (EventColumns & HeadColumns & { r_keyed: boolean; r_snapshot_seq: number | string | null })[];
  try {
    rows = await store.run(READ_SINCE, [tenant, session, have, limit]);
  } catch (e) {
    throw storageError(e, 'reading events'); // outside withTenant, so translated here
  }
  const first = rows[0];
  if (!first) return null;
  let held: SinceRead['held'] = null;
  const events: StoredEvent[] = [];
  let read = 0;
  for (const r of rows) {
    if (r.r_seq === null) continue; // the session alone: no event rows
    read++;
    const seq = Number(r.r_seq);
    if (seq === have) held = { seq, hash: r.r_hash };
    else events.push(eventOfRow(tenant, session, seq, r));
  }
  return { status: first.r_status as SinceRead['status'], keyed: first.r_keyed, headSeq: Number(first.r_head_seq), headHash: first.r_head_hash, snapshotSeq: Number(first.r_snapshot_seq ?? 0), held, events, full: read >= limit };
}
