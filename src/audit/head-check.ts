import type { StoredEvent } from '../domain';
import { bytesEqual } from '../crypto';
import { datedBeforeEvent } from './key-period';

/** What a signed head can reveal about a chain. */
export type HeadProblemKind =
  | 'checkpoint_mismatch' // the event at a signed seq has another hash: the chain was rewritten after signing
  | 'checkpoint_beyond_head' // a signed seq is past the last event: events were removed from the tail
  | 'witness_mismatch' // as checkpoint_mismatch, against the witness outside the database
  | 'witness_beyond_head' // as checkpoint_beyond_head: the database was rolled back
  | 'checkpoint_before_event' // a checkpoint dated before the event it signs was written: dated back, into a retired key's period
  | 'witness_before_event' // as checkpoint_before_event, for the witnessed head
  | 'snapshot_mismatch' // a state snapshot names a head the chain does not have at its seq (reads ignore it)
  | 'snapshot_beyond_head'; // a state snapshot lies past the last event

export interface SignedHead {
  seq: number;
  hash: Uint8Array;
  source: 'checkpoint' | 'witness' | 'snapshot';
  /** A checkpoint's signed time: the head event's own time when the append signed it, later when a checkpoint run did. */
  time?: Date;
}

/**
 * The earliest signed time of the head `seq`/`hash` among `heads`, or null when none is
 * signed. No event at or before a signed head is later than its time, so a session's
 * last event is no earlier: retention, which counts from the last event, counts from no
 * earlier than this, whatever time a row claims. Pure.
 */
export function signedHeadTime(heads: readonly SignedHead[], seq: number, hash: Uint8Array | null): Date | null {
  let earliest: Date | null = null;
  for (const h of heads) {
    if (h.seq !== seq || !h.time || hash === null || !bytesEqual(h.hash, hash)) continue;
    if (!earliest || h.time.getTime() < earliest.getTime()) earliest = h.time;
  }
  return earliest;
}

/**
 * Where a chain runs past its last signed head: the seq after it, or null. A vault that
 * signs gives every batch's head a checkpoint in the statement that appends it, so events
 * after a session's last signed head were written by someone without the signing key
 * (the application role's credentials alone can append a correctly chained event that no
 * key opens, and every later honest append would be signed on top of it). A session with
 * no signed head at all counts only where `vaultSigns` (its access trail is signed):
 * otherwise it was written with signing off. Snapshots are not signed. Pure.
 */
export function unsignedTail(heads: readonly SignedHead[], lastSeq: number, vaultSigns: boolean): number | null {
  let signed = 0;
  let any = false;
  for (const h of heads) {
    if (h.source === 'snapshot') continue;
    any = true;
    signed = Math.max(signed, h.seq);
  }
  if (lastSeq === 0 || lastSeq <= signed || (!any && !vaultSigns)) return null;
  return signed + 1;
}

/**
 * Checks a chain, streamed in seq order, against signed heads: the chain must pass
 * through every one of them. Pure; memory holds the heads, not the chain.
 */
export class HeadCheck {
  private readonly pending = new Map<number, SignedHead[]>();
  private readonly found: { seq: number; kind: HeadProblemKind }[] = [];
  private readonly dated = new Set<SignedHead>();

  constructor(heads: readonly SignedHead[]) {
    for (const h of heads) {
      const list = this.pending.get(h.seq) ?? [];
      list.push(h);
      this.pending.set(h.seq, list);
    }
  }

  push(e: StoredEvent): void {
    const heads = this.pending.get(e.seq);
    if (!heads) return;
    this.pending.delete(e.seq);
    for (const h of heads) {
      if (!bytesEqual(h.hash, e.hash)) {
        this.found.push({ seq: e.seq, kind: `${h.source}_mismatch` });
      } else if (h.source !== 'snapshot' && h.time && datedBeforeEvent(h.time, e.at)) {
        // Signed before the event it signs was written (key-period.ts, checkpointTimeProblem): it vouches for nothing.
        this.found.push({ seq: e.seq, kind: h.source === 'checkpoint' ? 'checkpoint_before_event' : 'witness_before_event' });
        this.dated.add(h);
      }
    }
  }

  /** The heads given, less those found dated before their event: what may count as signed (unsignedTail). */
  vouching(heads: readonly SignedHead[]): SignedHead[] {
    return heads.filter((h) => !this.dated.has(h));
  }

  /** Heads the chain never reached are past its end. */
  finish(): { seq: number; kind: HeadProblemKind }[] {
    for (const [seq, heads] of [...this.pending].sort((a, b) => a[0] - b[0])) {
      for (const h of heads) this.found.push({ seq, kind: `${h.source}_beyond_head` });
    }
    this.pending.clear();
    return this.found;
  }
}
