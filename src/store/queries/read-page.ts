import { sessionId, tenantId, type StoredEvent } from '../../domain';
import type { Store } from '../types';
import { sqlLiteral } from '../statement';
import { BinaryCopyReader } from '../copy-binary';
import { StorageError } from '../../errors';
import { checkedType, readEvents } from './read-events';
import { withTenant } from '../tenant-scope';
import { storageError } from '../errors';

/** The columns of session_vault_read_page_rows (drizzle/0035_read_page_rows.sql), in order. */
const PAGE_FIELDS = 14;

/**
 * A page of a session's events as stored, in seq order, after `afterSeq`, at most `limit`:
 * the full read's hot path (replay, export, verify). On a server, one statement outside
 * any transaction, fetched as binary COPY (`readPageRows`). On the embedded store, whose
 * COPY the application role may not use (Store.copyRows), a tenant transaction reading
 * the table (`readEvents`): in process there is no round trip to save, and PGlite's
 * WebAssembly memory, which never shrinks, grew under a function's result (the peak RSS
 * of `export` on a 10,000-event session measured 219–224 MB that way, 202–206 MB this
 * way, against a 250 MB bound).
 */
export async function readPage(store: Store, tenant: string, session: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  if (!store.copyRows) return withTenant(store.db, tenant, 'reading events', (tx) => readEvents(tx, tenant, session, afterSeq, limit));
  return readPageRows(store.copyRows, tenant, session, afterSeq, limit);
}

/**
 * The page in one statement outside any transaction (session_vault_read_page_rows,
 * drizzle/0035_read_page_rows.sql, scopes itself to the tenant): a round trip a page,
 * its rows as binary COPY, so the bytes cross as stored (no base64 to encode on the
 * server and decode here) and no field is parsed from text. The events' byte strings are
 * views of the page's one buffer.
 */
export async function readPageRows(copyRows: NonNullable<Store['copyRows']>, tenant: string, session: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  // The ids checked here again, where they become SQL text: their patterns admit no quote or backslash.
  const args = [tenantId(tenant), sessionId(session), afterSeq, limit].map(sqlLiteral).join(', ');
  let output: Buffer;
  try {
    output = await copyRows(`SELECT * FROM session_vault_read_page_rows(${args})`);
  } catch (e) {
    throw storageError(e, 'reading events'); // outside withTenant, so translated here
  }
  const rows = new BinaryCopyReader(output, 'reading events');
  const page: StoredEvent[] = [];
  while (rows.nextRow(PAGE_FIELDS)) {
    const seq = present(rows.bigint());
    page.push({
      tenant,
      session,
      seq,
      type: checkedType(present(rows.text()), tenant, session, seq),
      at: present(rows.timestamp()),
      correlationId: present(rows.text()),
      idempotencyKey: rows.text(),
      tool: rows.text(),
      promptTokens: rows.integer(),
      completionTokens: rows.integer(),
      costUsd: rows.double(),
      durationMs: rows.bigint(),
      keyVersion: present(rows.integer()),
      nonce: present(rows.bytes()),
      ciphertext: present(rows.bytes()),
      hash: present(rows.bytes()),
    });
  }
  return page;
}

/** A NOT NULL column's value: NULL there means the output is not the function's. */
function present<T>(value: T | null): T {
  if (value === null) throw new StorageError('STORAGE_REFUSED', 'database error while reading events: a column that is never NULL was NULL');
  return value;
}
