import type { StoredEvent } from '../../domain';
import type { Store } from '../types';
import type { Statement } from '../statement';
import { batchPlaceholders, batchValues } from './batch-columns';
import { numberArray, textArray } from '../array-literal';

/** One session's sealed, chained batch within a group (see appendGroup). */
export interface GroupPart {
  session: string;
  expectedSeq: number;
  rows: readonly StoredEvent[];
  checkpoint: { keyId: string; note: string } | null;
}

const APPEND_GROUP: Statement = {
  name: 'session_vault_append_group_v1',
  text: `SELECT session_vault_append_group($1::text, $2::text[], $3::bigint[], $4::text[], $5::text[], $6::integer[], ${batchPlaceholders(7)}) AS ok`,
};

/**
 * Appends several sessions' batches of one tenant in one statement, one commit
 * (session_vault_append_group, drizzle/0026_append_group.sql). Resolves, once committed,
 * with one boolean a part: false where that session's head was no longer at its
 * expectedSeq or it was not active, and nothing of it was written. Throws, having written
 * nothing of any part, on any database error (a concurrent writer's idempotency key, a
 * guard): the caller then writes the parts one by one to learn which one failed.
 */
export async function appendGroup(store: Store, tenant: string, parts: readonly GroupPart[]): Promise<boolean[]> {
  const rows = parts.flatMap((p) => p.rows);
  const rowPart = parts.flatMap((p, i) => p.rows.map(() => i + 1));
  // Array literals, as the batch's own columns are (array-literal.ts).
  const values = [
    tenant,
    textArray(parts, (p) => p.session),
    numberArray(parts, (p) => p.expectedSeq),
    textArray(parts, (p) => p.checkpoint?.keyId ?? null),
    textArray(parts, (p) => p.checkpoint?.note ?? null),
    numberArray(rowPart, (i) => i),
    ...batchValues(rows),
  ];
  const [row] = await store.run<{ ok: boolean[] | null }>(APPEND_GROUP, values);
  const ok = row?.ok ?? [];
  return parts.map((_, i) => ok[i] === true);
}
