import type { StoredEvent } from '../../domain';
import { rowsOf, type Store, type TenantTx } from '../types';
import { positional, type Statement } from '../statement';
import { batchPlaceholders, batchValues } from './batch-columns';

const APPEND: Statement = {
  name: 'session_vault_append_v1',
  text: `SELECT session_vault_append($1::text, $2::text, $3::bigint, ${batchPlaceholders(4)}, $19::text, $20::text) AS ok`,
};

/**
 * Appends a sealed, chained batch in one statement through session_vault_append
 * (drizzle/0025_append_single.sql): a typed array per clear column, one concatenated
 * bytea per binary column (nonces and hashes have fixed sizes), and the batch's signed
 * checkpoint, stored in the same statement. Returns false — having written nothing —
 * when the session's head is no longer at `expectedSeq` (another writer got there first)
 * or the session is not active. Runs on its own as a prepared statement (Store.run) and
 * commits before it returns.
 */
export async function appendEvents(
  store: Store,
  tenant: string,
  session: string,
  expectedSeq: number,
  rows: readonly StoredEvent[],
  checkpoint: { keyId: string; note: string } | null,
): Promise<boolean> {
  const [row] = await store.run<{ ok: boolean }>(APPEND, appendValues(tenant, session, expectedSeq, rows, checkpoint));
  return row?.ok === true;
}

/** The same statement inside a transaction (one chunk of a batch too large for one statement); it commits with the transaction. */
export async function appendEventsInTransaction(
  tx: TenantTx,
  tenant: string,
  session: string,
  expectedSeq: number,
  rows: readonly StoredEvent[],
  checkpoint: { keyId: string; note: string } | null,
): Promise<boolean> {
  const res = await tx.execute(positional(APPEND, appendValues(tenant, session, expectedSeq, rows, checkpoint)));
  return rowsOf<{ ok: boolean }>(res)[0]?.ok === true;
}

function appendValues(tenant: string, session: string, expectedSeq: number, rows: readonly StoredEvent[], checkpoint: { keyId: string; note: string } | null): unknown[] {
  return [tenant, session, expectedSeq, ...batchValues(rows), checkpoint?.keyId ?? null, checkpoint?.note ?? null];
}
