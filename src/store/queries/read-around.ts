import type { StoredEvent } from '../../domain';
import type { Store } from '../types';
import type { Statement } from '../statement';
import { eventOfRow, type EventColumns, type HeadColumns } from './read-events';
import { storageError } from '../errors';

const READ_AROUND: Statement = {
  name: 'session_vault_read_keyed_v1',
  text: 'SELECT * FROM session_vault_read_keyed($1::text, $2::text, $3::integer, $4::bigint[])',
};

export interface AroundRead {
  status: 'active' | 'archived' | 'purged';
  /** False once the session's data key is shredded: then no events come. */
  keyed: boolean;
  headSeq: number;
  headHash: Uint8Array | null;
  /** The tail (and the event before it) and each wanted seq with the one before it; none unless active. */
  events: StoredEvent[];
}

/**
 * A session's head and a few events in one statement, outside any transaction
 * (session_vault_read_keyed, drizzle/0028_read_keyed.sql, scopes itself to the tenant).
 * Null for an unknown session.
 */
export async function readAround(store: Store, tenant: string, session: string, tail: number, seqs: readonly number[]): Promise<AroundRead | null> {
  // Each listed seq with its predecessor, whose hash the reader checks it against.
  const listed = [...new Set(seqs.flatMap((s) => [s - 1, s]).filter((s) => s >= 1))];
  let rows: (EventColumns & HeadColumns & { r_keyed: boolean })[];
  try {
    rows = await store.run(READ_AROUND, [tenant, session, tail, listed]);
  } catch (e) {
    throw storageError(e, 'reading events'); // outside withTenant, so translated here
  }
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
  return { status: first.r_status as AroundRead['status'], keyed: first.r_keyed, headSeq: Number(first.r_head_seq), headHash: first.r_head_hash, events };
}
