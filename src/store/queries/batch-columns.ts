import { sql, type SQL } from 'drizzle-orm';
import type { StoredEvent } from '../../domain';

const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/**
 * A batch of stored events as the parameters session_vault_append and
 * session_vault_restore take: a typed array per clear column, then one concatenated
 * bytea per binary column (nonces 24 bytes and hashes 32 bytes apiece, ciphertexts by
 * the lengths array). A lone Buffer travels binary; inside an array it would be escaped text.
 */
export function batchColumns(rows: readonly StoredEvent[]): SQL {
  const col = <T>(f: (e: StoredEvent) => T) => sql.param(rows.map(f));
  const concat = (f: (e: StoredEvent) => Uint8Array) => sql.param(Buffer.concat(rows.map((e) => buf(f(e)))));
  return sql`${col((e) => e.seq)}::bigint[], ${col((e) => e.type)}::text[], ${col((e) => e.at.toISOString())}::timestamptz[],
    ${col((e) => e.correlationId)}::text[], ${col((e) => e.idempotencyKey)}::text[], ${col((e) => e.tool)}::text[],
    ${col((e) => e.promptTokens)}::integer[], ${col((e) => e.completionTokens)}::integer[],
    ${col((e) => e.costUsd)}::double precision[], ${col((e) => e.durationMs)}::bigint[],
    ${col((e) => e.keyVersion)}::integer[], ${col((e) => e.ciphertext.length)}::integer[],
    ${concat((e) => e.nonce)}::bytea, ${concat((e) => e.ciphertext)}::bytea, ${concat((e) => e.hash)}::bytea`;
}
