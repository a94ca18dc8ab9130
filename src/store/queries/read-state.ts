import { sql } from 'drizzle-orm';
import type { StoredEvent } from '../../domain';
import type { SealedSnapshot } from '../../events';
import { rowsOf, type VaultDb } from '../types';
import { storageError } from '../errors';
import { eventOfRow, type EventColumns, type HeadColumns } from './read-events';

/** What session_vault_state_read returns: the session's head, the nearest snapshot, and the events from its seq. */
export interface StateRead {
  status: 'active' | 'archived' | 'purged';
  headSeq: number;
  headHash: Uint8Array | null;
  snapshot: SealedSnapshot | null;
  /** From the snapshot's seq (or 1) through `upto`, at most `limit`; none unless active. */
  events: StoredEvent[];
}

/**
 * A session's nearest snapshot at or before a point and the events from it, in one
 * statement outside any transaction (session_vault_state_read, drizzle/0024_state_read.sql,
 * scopes itself to the tenant). Null for an unknown session.
 */
export async function readForState(db: VaultDb, tenant: string, session: string, point: { upto: number; at?: Date }, limit: number): Promise<StateRead | null> {
  let res: unknown;
  try {
    res = await db.execute(
      sql`SELECT * FROM session_vault_state_read(${tenant}, ${session}, ${point.upto}::bigint, ${point.at?.toISOString() ?? null}::timestamptz, ${limit}::integer)`,
    );
  } catch (e) {
    throw storageError(e, 'reading a state'); // outside withTenant, so translated here
  }
  const rows = rowsOf<EventColumns & HeadColumns & { r_kind: string }>(res);
  const first = rows[0];
  if (!first) return null;
  let snapshot: SealedSnapshot | null = null;
  const events: StoredEvent[] = [];
  for (const r of rows) {
    if (r.r_kind === 'snapshot') {
      snapshot = { tenant, session, seq: Number(r.r_seq), at: r.r_at instanceof Date ? r.r_at : new Date(r.r_at), headHash: r.r_hash, keyVersion: r.r_key_version, nonce: r.r_nonce, ciphertext: r.r_ciphertext };
    } else if (r.r_kind === 'event') {
      events.push(eventOfRow(tenant, session, Number(r.r_seq), r));
    }
  }
  return { status: first.r_status as StateRead['status'], headSeq: Number(first.r_head_seq), headHash: first.r_head_hash, snapshot, events };
}
