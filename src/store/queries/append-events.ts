import { sql } from 'drizzle-orm';
import type { StoredEvent } from '../../domain';
import { rowsOf, type TenantTx, type VaultDb } from '../types';

const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

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
  const col = <T>(f: (e: StoredEvent) => T) => sql.param(rows.map(f));
  // One binary parameter per byte column: a lone Buffer travels binary; inside an array it would be escaped text.
  const concat = (f: (e: StoredEvent) => Uint8Array) => sql.param(Buffer.concat(rows.map((e) => buf(f(e)))));
  const res = await db.execute(sql`SELECT session_vault_append(
    ${tenant}, ${session}, ${expectedSeq},
    ${col((e) => e.seq)}::bigint[], ${col((e) => e.type)}::text[], ${col((e) => e.at.toISOString())}::timestamptz[],
    ${col((e) => e.correlationId)}::text[], ${col((e) => e.idempotencyKey)}::text[], ${col((e) => e.tool)}::text[],
    ${col((e) => e.promptTokens)}::integer[], ${col((e) => e.completionTokens)}::integer[],
    ${col((e) => e.costUsd)}::double precision[], ${col((e) => e.durationMs)}::bigint[],
    ${col((e) => e.keyVersion)}::integer[], ${col((e) => e.ciphertext.length)}::integer[],
    ${concat((e) => e.nonce)}::bytea, ${concat((e) => e.ciphertext)}::bytea, ${concat((e) => e.hash)}::bytea,
    ${checkpoint?.keyId ?? null}::text, ${checkpoint?.note ?? null}::text) AS ok`);
  return rowsOf<{ ok: boolean }>(res)[0]?.ok === true;
}
