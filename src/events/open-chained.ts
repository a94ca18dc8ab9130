import type { StoredEvent, VaultEvent } from '../domain';
import { IntegrityError } from '../errors';
import { bytesEqual, type SecretBytes } from '../crypto';
import { isEventHash } from './encoding';
import { openEvent } from './seal';

/*
 * Stored rows opened and checked against their chain as a reader meets them: pure, given
 * the session's data key. Every read path of the vault (pages, a state read's rows, the
 * rows after a held event, particular events) opens rows here.
 */

/** Where a chain check stands: the hash of the event before the next one (null until read) and the next one's seq. */
export interface ChainCursor {
  prev: Uint8Array | null;
  expected: number;
}

/** The head a session's row records: the event at `seq` must have this hash. */
export interface RecordedHead {
  seq: number;
  hash: Uint8Array;
}

/**
 * Rows decrypted and checked along the chain from `at`, which moves on with each row
 * opened. Until the hash to check from is known (`at.prev` null: a read from seq n reads
 * n-1 too), rows before `at.expected` are only passed over, the one just before giving
 * that hash; after it every row must be the next. `head`: the row at its seq must have
 * its hash. A row that fails its checks ends the run: what opened before it comes back
 * with its error, for the reader to hand those events out first and throw after, so a
 * consumer sees what it saw when events came one at a time, and one that stops before
 * the bad row never meets its error.
 */
export function openAlong(rows: readonly StoredEvent[], at: ChainCursor, dataKey: SecretBytes, head: RecordedHead | null = null): { events: VaultEvent[]; failure: { error: unknown } | null } {
  const events: VaultEvent[] = [];
  for (const row of rows) {
    if (at.prev === null && row.seq < at.expected) {
      if (row.seq === at.expected - 1) at.prev = row.hash;
      continue;
    }
    try {
      const event = openChained(row, at.prev, at.expected, dataKey);
      if (head) checkHead(row, head);
      events.push(event);
    } catch (error) {
      return { events, failure: { error } };
    }
    at.prev = row.hash;
    at.expected = row.seq + 1;
  }
  return { events, failure: null };
}

/** CHAIN_BROKEN when `row` sits at the recorded head's seq without its hash (a rewound or rewritten head). */
export function checkHead(row: StoredEvent, head: RecordedHead): void {
  if (row.seq === head.seq && !bytesEqual(row.hash, head.hash)) {
    throw new IntegrityError('CHAIN_BROKEN', `event ${row.seq} of ${row.tenant}/${row.session} is not the head its session records; run verify`);
  }
}

/**
 * One row decrypted and checked against the chain: opened first (a moved or relabelled
 * ciphertext, or a v2 row with a rewritten clear column, fails as DECRYPTION_FAILED),
 * then its hash checked against its columns and `prev`, the hash of the event before it,
 * which must be seq `expected` - 1 (a removed, reordered or inserted row, a legacy row's
 * or a shred marker's rewritten columns: CHAIN_BROKEN).
 */
export function openChained(row: StoredEvent, prev: Uint8Array | null, expected: number, dataKey: SecretBytes): VaultEvent {
  const event = openEvent(row, dataKey);
  if (prev === null || row.seq !== expected || !isEventHash(row.hash, prev, row)) {
    throw new IntegrityError('CHAIN_BROKEN', `event ${row.seq} of ${row.tenant}/${row.session} does not match its chain (altered, removed or inserted); run verify`);
  }
  return event;
}
