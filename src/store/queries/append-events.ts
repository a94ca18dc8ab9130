import { sql } from 'drizzle-orm';
import type { StoredEvent } from '../../domain';
import { rowsOf, type TenantTx, type VaultDb } from '../types';

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * Appends a sealed, chained batch in one statement through session_vault_append
 * (drizzle/0001_security.sql). Returns false — having written nothing — when the
 * session's head is no longer at `expectedSeq` (another writer got there first) or the
 * session is not active. Called outside a transaction it commits on return.
 */
export async function appendEvents(
  db: VaultDb | TenantTx,
  tenant: string,
  session: string,
  expectedSeq: number,
  rows: readonly StoredEvent[],
): Promise<boolean> {
  const payload = JSON.stringify(
    rows.map((e) => ({
      seq: e.seq,
      type: e.type,
      at: e.at.toISOString(),
      correlationId: e.correlationId,
      idempotencyKey: e.idempotencyKey,
      tool: e.tool,
      promptTokens: e.promptTokens,
      completionTokens: e.completionTokens,
      costUsd: e.costUsd,
      durationMs: e.durationMs,
      keyVersion: e.keyVersion,
      nonce: hex(e.nonce),
      ciphertext: hex(e.ciphertext),
      hash: hex(e.hash),
    })),
  );
  const res = await db.execute(sql`SELECT session_vault_append(${tenant}, ${session}, ${expectedSeq}, ${payload}::jsonb) AS ok`);
  return rowsOf<{ ok: boolean }>(res)[0]?.ok === true;
}
