import { sql } from 'drizzle-orm';
import type { StoredEvent } from '../../domain';
import { rowsOf, type TenantTx, type VaultDb } from '../types';
import { batchColumns } from './batch-columns';

/**
 * Appends a sealed, chained batch in one statement through session_vault_append
 * (drizzle/0005_checkpoint_security.sql): a typed array per clear column, one
 * concatenated bytea per binary column (nonces and hashes have fixed sizes), and the
 * batch's signed checkpoint, stored in the same statement. Returns false — having
 * written nothing — when the session's head is no longer at `expectedSeq` (another
 * writer got there first) or the session is not active. Called outside a transaction it
 * commits before it returns.
 */
export async function appendEvents(
  db: VaultDb | TenantTx,
  tenant: string,
  session: string,
  expectedSeq: number,
  rows: readonly StoredEvent[],
  checkpoint: { keyId: string; note: string } | null,
): Promise<boolean> {
  const res = await db.execute(sql`SELECT session_vault_append(
    ${tenant}, ${session}, ${expectedSeq}, ${batchColumns(rows)},
    ${checkpoint?.keyId ?? null}::text, ${checkpoint?.note ?? null}::text) AS ok`);
  return rowsOf<{ ok: boolean }>(res)[0]?.ok === true;
}
