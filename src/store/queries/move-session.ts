import { sql } from 'drizzle-orm';
import type { StoredEvent } from '../../domain';
import { rowsOf, type TenantTx } from '../types';
import { batchColumns } from './batch-columns';

/**
 * Removes an archived session's hot events through session_vault_release_archived
 * (drizzle/0012_retention_security.sql): only with a verified archive record at exactly
 * this head and digest, only while the session is still active at that head. Returns
 * false, changing nothing, if the head moved or the session is no longer active.
 */
export async function releaseArchived(tx: TenantTx, tenant: string, session: string, headSeq: number, digest: Uint8Array): Promise<boolean> {
  const res = await tx.execute(
    sql`SELECT session_vault_release_archived(${tenant}, ${session}, ${headSeq}, ${sql.param(Buffer.from(digest))}::bytea) AS ok`,
  );
  return rowsOf<{ ok: boolean }>(res)[0]?.ok === true;
}

/**
 * Puts an archived session's events back (session_vault_restore) and makes it active.
 * The rows must be seqs 1..head ending at the recorded head hash. Returns false, writing
 * nothing, if the session is not archived at that head.
 */
export async function restoreEvents(tx: TenantTx, tenant: string, session: string, rows: readonly StoredEvent[]): Promise<boolean> {
  const res = await tx.execute(sql`SELECT session_vault_restore(${tenant}, ${session}, ${batchColumns(rows)}) AS ok`);
  return rowsOf<{ ok: boolean }>(res)[0]?.ok === true;
}
