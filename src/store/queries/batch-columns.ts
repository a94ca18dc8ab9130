import type { StoredEvent } from '../../domain';
import { numberArray, textArray, timeArray } from '../array-literal';

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
 * A batch of stored events as those 15 parameter values (batchPlaceholders): one array
 * literal a clear column (array-literal.ts: written in one pass, where node-postgres
 * would convert a JS array element by element), then nonces (24 bytes apiece),
 * ciphertexts (by the lengths array) and hashes (32 bytes apiece) each concatenated into
 * one Buffer. A lone Buffer travels binary; inside an array it would be escaped text.
 */
export function batchValues(rows: readonly StoredEvent[]): unknown[] {
  return [
    numberArray(rows, (e) => e.seq),
    textArray(rows, (e) => e.type),
    timeArray(rows, (e) => e.at),
    textArray(rows, (e) => e.correlationId),
    textArray(rows, (e) => e.idempotencyKey),
    textArray(rows, (e) => e.tool),
    numberArray(rows, (e) => e.promptTokens),
    numberArray(rows, (e) => e.completionTokens),
    numberArray(rows, (e) => e.costUsd),
    numberArray(rows, (e) => e.durationMs),
    numberArray(rows, (e) => e.keyVersion),
    numberArray(rows, (e) => e.ciphertext.length),
    concat(rows, (e) => e.nonce),
    concat(rows, (e) => e.ciphertext),
    concat(rows, (e) => e.hash),
  ];
}

/** The rows' bytes one after another, in one Buffer (a batch of one: a view of its own bytes, no copy). */
function concat(rows: readonly StoredEvent[], of: (e: StoredEvent) => Uint8Array): Buffer {
  if (rows.length === 1) return buf(of(rows[0]!));
  let size = 0;
  for (const e of rows) size += of(e).length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const e of rows) {
    const b = of(e);
    out.set(b, at);
    at += b.length;
  }
  return out;
}
