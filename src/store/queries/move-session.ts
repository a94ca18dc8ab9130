import { sql } from 'drizzle-orm';
import type { StoredEvent } from '../../domain';
import { rowsOf, type TenantTx } from '../types';
import { batchColumns } from './batch-columns';

/**
 * Puts an archived session's events back (session_vault_restore) and makes it active.
 * The rows must be seqs 1..head ending at the recorded head hash. Returns false, writing
 * nothing, if the session is not archived at that head.
 */
export async function restoreEvents(tx: TenantTx, tenant: string, session: string, rows: readonly StoredEvent[]): Promise<boolean> {
  const res = await tx.execute(sql`SELECT session_vault_restore(${tenant}, ${session}, ${batchColumns(rows)}) AS ok`);
  return rowsOf<{ ok: boolean }>(res)[0]?.ok === true;
}
