import type { StoredEvent } from '../domain';
import { bytesEqual, toHex } from '../crypto';
import { GENESIS_HASH, isEventHash } from './encoding';

/** What verification can find wrong with a session's chain. */
export type ChainProblemKind =
  | 'hash_mismatch' // the stored hash is not the hash of the stored columns and the previous hash
  | 'gap' // a seq is missing (events deleted, or reordered out of place)
  | 'out_of_order' // a seq repeats or goes backwards
  | 'foreign_row' // a row names another tenant or session than the stream it was read from
  | 'head_mismatch' // the session's recorded head is not the last event's seq and hash
  | 'missing_tail'; // the session's head seq is beyond the last stored event

export interface ChainProblem {
  seq: number;
  kind: ChainProblemKind;
}

/**
 * Verifies a chain incrementally, one event at a time, in seq order, with no keys.
 * Each event is checked against the *stored* hash of its predecessor, so one altered
 * event is named alone rather than cascading into every later one.
 * Pure: no I/O, so it serves the database verifier and offline bundle checks alike.
 */
export class ChainVerifier {
  private prev: Uint8Array = GENESIS_HASH;
  private expectedSeq = 1;
  private readonly found: ChainProblem[] = [];
  private count = 0;

  constructor(
    private readonly tenant: string,
    private readonly session: string,
  ) {}

  push(e: StoredEvent): void {
    this.count++;
    if (e.tenant !== this.tenant || e.session !== this.session) {
      this.found.push({ seq: e.seq, kind: 'foreign_row' });
    }
    if (e.seq > this.expectedSeq) {
      this.found.push({ seq: this.expectedSeq, kind: 'gap' });
    } else if (e.seq < this.expectedSeq) {
      this.found.push({ seq: e.seq, kind: 'out_of_order' });
    }
    if (!isEventHash(e.hash, this.prev, e)) {
      this.found.push({ seq: e.seq, kind: 'hash_mismatch' });
    }
    this.prev = e.hash;
    this.expectedSeq = Math.max(this.expectedSeq, e.seq + 1);
  }

  /** Checks the recorded head against the last event, and returns every problem found. */
  finish(head: { seq: number; hash: Uint8Array | null }): ChainProblem[] {
    const lastSeq = this.expectedSeq - 1;
    if (head.seq > lastSeq) {
      this.found.push({ seq: lastSeq + 1, kind: 'missing_tail' });
    } else if (head.seq < lastSeq || !bytesEqual(head.hash ?? GENESIS_HASH, this.prev)) {
      this.found.push({ seq: head.seq, kind: 'head_mismatch' });
    }
    return this.found;
  }

  get events(): number {
    return this.count;
  }

  /** Hex of the last hash seen (the genesis hash before any event). */
  get headHex(): string {
    return toHex(this.prev);
  }
}
