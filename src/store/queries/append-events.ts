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
 * or the session is not active. Given the store, it runs on its own as a prepared
 * statement (Store.run) and commits before it returns; given a transaction, inside it.
 */
export async function appendEvents(
  target: Store | TenantTx,
  tenant: string,
  session: string,
  expectedSeq: number,
  rows: readonly StoredEvent[],
  checkpoint: { keyId: string; note: string } | null,
): Promise<boolean> {
  const values = [tenant, session, expectedSeq, ...batchValues(rows), checkpoint?.keyId ?? null, checkpoint?.note ?? null];
  const result = 'run' in target ? await target.run<{ ok: boolean }>(APPEND, values) : rowsOf<{ ok: boolean }>(await target.execute(positional(APPEND, values)));
  return result[0]?.ok === true;
}
