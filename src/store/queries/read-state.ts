import type { StoredEvent } from '../../domain';
import type { StoredSnapshot } from './snapshots';
import type { Store } from '../types';
import type { Statement } from '../statement';
import { storageError } from '../errors';
import { eventOfRow, type EventColumns, type HeadColumns } from './read-events';

const STATE_READ: Statement = {
  name: 'session_vault_state_read_v4',
  text: 'SELECT * FROM session_vault_state_read_stamped($1::text, $2::text, $3::bigint, $4::timestamptz, $5::integer, $6::bigint)',
};

/** What session_vault_state_read_stamped returns: the session's head, the nearest snapshot (with its signature and storage time), and the events from its seq. */
export interface StateRead {
  status: 'active' | 'archived' | 'purged';
  /** False once the session's data key is shredded: then no snapshot and no events come. */
  keyed: boolean;
  headSeq: number;
  headHash: Uint8Array | null;
  /** The nearest snapshot, sealed, with its signature and when the database stored it; null when there is none. */
  snapshot: StoredSnapshot | null;
  /** The nearest snapshot's seq (0: none). */
  snapshotSeq: number;
  /** From the snapshot's seq (or 1) through `upto`, at most `limit`; none unless active and keyed. */
  events: StoredEvent[];
}

/**
 * A session's nearest snapshot at or before a point and the events from it, in one
 * statement outside any transaction (session_vault_state_read_stamped, drizzle/0056_snapshot_stored_at.sql, as 0027_state_read_cached.sql's,
 * which scopes itself to the tenant). Null for an unknown session. (A reader holding a
 * state catches up with session_vault_read_since instead: read-since.ts.)
 */
export async function readForState(store: Store, tenant: string, session: string, point: { upto: number; at?: Date }, limit: number): Promise<StateRead | null> {
  let rows: (EventColumns & HeadColumns & { r_kind: string; r_keyed: boolean; r_sign_key: string | null; r_signature: Uint8Array | null; r_stored_at: Date | string | null })[];
  try {
    rows = await store.run(STATE_READ, [tenant, session, point.upto, point.at?.toISOString() ?? null, limit, null]);
  } catch (e) {
    throw storageError(e, 'reading a state'); // outside withTenant, so translated here
  }
  const first = rows[0];
  if (!first) return null;
  let snapshot: StoredSnapshot | null = null;
  let snapshotSeq = 0;
  const events: StoredEvent[] = [];
  for (const r of rows) {
    if (r.r_kind === 'snapshot') {
      snapshotSeq = Number(r.r_seq);
      if (r.r_ciphertext !== null) {
        snapshot = {
          tenant,
          session,
          seq: snapshotSeq,
          at: r.r_at instanceof Date ? r.r_at : new Date(r.r_at),
          headHash: r.r_hash,
          keyVersion: r.r_key_version,
          nonce: r.r_nonce,
          ciphertext: r.r_ciphertext,
          keyId: r.r_sign_key,
          signature: r.r_signature,
          storedAt: r.r_stored_at === null ? null : r.r_stored_at instanceof Date ? r.r_stored_at : new Date(r.r_stored_at),
        };
      }
    } else if (r.r_kind === 'event') {
      events.push(eventOfRow(tenant, session, Number(r.r_seq), r));
    }
  }
  return { status: first.r_status as StateRead['status'], keyed: first.r_keyed, headSeq: Number(first.r_head_seq), headHash: first.r_head_hash, snapshot, snapshotSeq, events };
}
