import type { StoredEvent } from '../../domain';

/** The bytes as a Buffer over the same memory: what node-postgres sends in binary. */
export const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/**
 * The placeholders of a batch's 15 parameters, numbered from `$first`, with the types
 * session_vault_append and session_vault_restore take: a typed array per clear column,
 * then one concatenated bytea per binary column.
 */
export function batchPlaceholders(first: number): string {
  const types = ['bigint[]', 'text[]', 'timestamptz[]', 'text[]', 'text[]', 'text[]', 'integer[]', 'integer[]', 'double precision[]', 'bigint[]', 'integer[]', 'integer[]', 'bytea', 'bytea', 'bytea'];
  return types.map((t, i) => `$${first + i}::${t}`).join(', ');
}

/**
 * A batch of stored events as those 15 parameter values (batchPlaceholders): one array a
 * clear column, then nonces (24 bytes apiece), ciphertexts (by the lengths array) and
 * hashes (32 bytes apiece) each concatenated into one Buffer. A lone Buffer travels
 * binary; inside an array it would be escaped text.
 */
export function batchValues(rows: readonly StoredEvent[]): unknown[] {
  const col = <T>(f: (e: StoredEvent) => T) => rows.map(f);
  const concat = (f: (e: StoredEvent) => Uint8Array) => (rows.length === 1 ? buf(f(rows[0]!)) : Buffer.concat(rows.map((e) => buf(f(e)))));
  return [
    col((e) => e.seq),
    col((e) => e.type),
    col((e) => e.at.toISOString()),
    col((e) => e.correlationId),
    col((e) => e.idempotencyKey),
    col((e) => e.tool),
    col((e) => e.promptTokens),
    col((e) => e.completionTokens),
    col((e) => e.costUsd),
    col((e) => e.durationMs),
    col((e) => e.keyVersion),
    col((e) => e.ciphertext.length),
    concat((e) => e.nonce),
    concat((e) => e.ciphertext),
    concat((e) => e.hash),
  ];
}
