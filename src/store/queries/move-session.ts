import type { StoredEvent } from '../../domain';
import { rowsOf, type TenantTx } from '../types';
import { positional, type Statement } from '../statement';
import { batchPlaceholders, batchValues } from './batch-columns';

const RESTORE: Statement = {
  name: 'session_vault_restore_v1',
  text: `SELECT session_vault_restore($1::text, $2::text, ${batchPlaceholders(3)}) AS ok`,
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
