import type { StoredEvent } from '../../domain';
import { rowsOf, type Store, type TenantTx } from '../types';
import { positional, type Statement } from '../statement';
import { batchPlaceholders, batchValues, buf } from './batch-columns';

const APPEND: Statement = {
  name: 'session_vault_append_v1',
  text: `SELECT session_vault_append($1::text, $2::text, $3::bigint, ${batchPlaceholders(4)}, $19::text, $20::text) AS ok`,
};

/** A batch of one, each column a plain parameter (drizzle/0033_append_one.sql). */
const APPEND_ONE: Statement = {
  name: 'session_vault_append_one_v1',
  text:
    'SELECT session_vault_append_one($1::text, $2::text, $3::bigint, $4::text, $5::timestamptz, $6::text, $7::text, $8::text, ' +
    '$9::integer, $10::integer, $11::double precision, $12::bigint, $13::integer, $14::bytea, $15::bytea, $16::bytea, $17::text, $18::text) AS ok',
};

/**
 * Appends a sealed, chained batch in one statement through session_vault_append
 * (drizzle/0025_append_single.sql): a typed array per clear column, one concatenated
 * bytea per binary column (nonces and hashes have fixed sizes), and the batch's signed
 * checkpoint, stored in the same statement; a batch of one through
 * session_vault_append_one (0033), the same rules with a plain parameter a column.
 * Returns false — having written nothing — when the session's head is no longer at
 * `expectedSeq` (another writer got there first) or the session is not active. Runs on
 * its own as a prepared statement (Store.run) and commits before it returns.
 */
export async function appendEvents(
  store: Store,
  tenant: string,
  session: string,
  expectedSeq: number,
  rows: readonly StoredEvent[],
  checkpoint: { keyId: string; note: string } | null,
): Promise<boolean> {
  const [row] =
    rows.length === 1
      ? await store.run<{ ok: boolean }>(APPEND_ONE, oneValues(tenant, session, expectedSeq, rows[0]!, checkpoint))
      : await store.run<{ ok: boolean }>(APPEND, appendValues(tenant, session, expectedSeq, rows, checkpoint));
  return row?.ok === true;
}

/** The same statement inside a transaction (one chunk of a batch too large for one statement); it commits with the transaction. */
export async function appendEventsInTransaction(
  tx: TenantTx,
  tenant: string,
  session: string,
  expectedSeq: number,
  rows: readonly StoredEvent[],
  checkpoint: { keyId: string; note: string } | null,
): Promise<boolean> {
  const res = await tx.execute(positional(APPEND, appendValues(tenant, session, expectedSeq, rows, checkpoint)));
  return rowsOf<{ ok: boolean }>(res)[0]?.ok === true;
}

function appendValues(tenant: string, session: string, expectedSeq: number, rows: readonly StoredEvent[], checkpoint: { keyId: string; note: string } | null): unknown[] {
  return [tenant, session, expectedSeq, ...batchValues(rows), checkpoint?.keyId ?? null, checkpoint?.note ?? null];
}

/** The one row's columns; its seq is not sent: the function stores it at the head after `expectedSeq`, where it was sealed. */
function oneValues(tenant: string, session: string, expectedSeq: number, e: StoredEvent, checkpoint: { keyId: string; note: string } | null): unknown[] {
  if (e.seq !== expectedSeq + 1) throw new Error(`a batch of one after seq ${expectedSeq} was sealed at seq ${e.seq}`); // a programming error: its associated data names the seq
  return [
    tenant,
    session,
    expectedSeq,
    e.type,
    e.at.toISOString(),
    e.correlationId,
    e.idempotencyKey,
    e.tool,
    e.promptTokens,
    e.completionTokens,
    e.costUsd,
    e.durationMs,
    e.keyVersion,
    buf(e.nonce),
    buf(e.ciphertext),
    buf(e.hash),
    checkpoint?.keyId ?? null,
    checkpoint?.note ?? null,
  ];
}
