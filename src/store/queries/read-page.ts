import type { StoredEvent } from '../../domain';
import type { Store } from '../types';
import type { Statement } from '../statement';
import { checkedType, readEvents } from './read-events';
import { withTenant } from '../tenant-scope';
import { storageError } from '../errors';

const READ_PAGE: Statement = {
  name: 'session_vault_read_page_v1',
  text: 'SELECT * FROM session_vault_read_page($1::text, $2::text, $3::bigint, $4::integer)',
};

/** A row of session_vault_read_page: the bytes in base64, the time in epoch milliseconds. */
interface PageColumns {
  r_seq: number | string;
  r_type: string;
  r_at_ms: number | string;
  r_correlation_id: string;
  r_idempotency_key: string | null;
  r_tool: string | null;
  r_prompt_tokens: number | null;
  r_completion_tokens: number | null;
  r_cost_usd: number | null;
  r_duration_ms: number | string | null;
  r_key_version: number;
  r_nonce: string;
  r_ciphertext: string;
  r_hash: string;
}

/**
 * A page of a session's events as stored, in seq order, after `afterSeq`, at most `limit`:
 * the full read's hot path (replay, export, verify). On Postgres, one statement outside
 * any transaction (`readPageStatement`). On the embedded store, a tenant transaction
 * reading the table (`readEvents`): in process there is no round trip to save, and
 * PGlite's WebAssembly memory, which never shrinks, grew under the function's result (the
 * peak RSS of `export` on a 10,000-event session measured 219–224 MB that way, 202–206 MB
 * this way, against a 250 MB bound).
 */
export async function readPage(store: Store, tenant: string, session: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  if (store.kind !== 'postgres') return withTenant(store.db, tenant, 'reading events', (tx) => readEvents(tx, tenant, session, afterSeq, limit));
  return readPageStatement(store, tenant, session, afterSeq, limit);
}

/**
 * The page in one statement outside any transaction (session_vault_read_page,
 * drizzle/0032_read_page.sql, scopes itself to the tenant): a round trip a page, the bytes
 * decoded from base64 and the time from epoch milliseconds.
 */
export async function readPageStatement(store: Store, tenant: string, session: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  let rows: PageColumns[];
  try {
    rows = await store.run(READ_PAGE, [tenant, session, afterSeq, limit]);
  } catch (e) {
    throw storageError(e, 'reading events'); // outside withTenant, so translated here
  }
  return rows.map((r) => {
    const seq = Number(r.r_seq);
    return {
      tenant,
      session,
      seq,
      type: checkedType(r.r_type, tenant, session, seq),
      // Whole milliseconds (the column's precision); 'infinity', which only a DBA writes, gives an invalid Date as node-postgres's parser does.
      at: new Date(Number(r.r_at_ms)),
      correlationId: r.r_correlation_id,
      idempotencyKey: r.r_idempotency_key,
      tool: r.r_tool,
      promptTokens: r.r_prompt_tokens,
      completionTokens: r.r_completion_tokens,
      costUsd: r.r_cost_usd,
      durationMs: r.r_duration_ms === null ? null : Number(r.r_duration_ms),
      keyVersion: r.r_key_version,
      nonce: Buffer.from(r.r_nonce, 'base64'),
      ciphertext: Buffer.from(r.r_ciphertext, 'base64'),
      hash: Buffer.from(r.r_hash, 'base64'),
    };
  });
}
