import { blake2b256, bytes, bytesEqual, frame, opt, str, u64 } from '../crypto';
import { GENESIS_HASH } from '../events';
import type { AccessRecord } from '../domain';

export type { AccessRecord };

/**
 * The operator access trail's records and hash chain (docs/formats.md):
 *   hash_n = BLAKE2b-256( str("session-vault/access/v1") ‖ bytes(hash_{n-1}) ‖ u64(seq)
 *                         ‖ u64(at ms) ‖ str(actor) ‖ str(action) ‖ opt(str(tenant))
 *                         ‖ opt(str(session)) ‖ opt(str(reason)) ‖ str(outcome) )
 * with 32 zero bytes before seq 1.
 */
export const ACCESS_TAG = 'session-vault/access/v1';


export function accessHash(prev: Uint8Array, r: AccessRecord): Uint8Array {
  return blake2b256(
    frame([
      str(ACCESS_TAG),
      bytes(prev),
      u64(r.seq),
      u64(r.at.getTime()),
      str(r.actor),
      str(r.action),
      opt(r.tenant, str),
      opt(r.session, str),
      opt(r.reason, str),
      str(r.outcome),
    ]),
  );
}

/** Checks the trail in seq order: gapless from 1, every hash. Pure. */
export class AccessChainVerifier {
  private prev: Uint8Array = GENESIS_HASH;
  private expected = 1;
  readonly problems: { seq: number; kind: 'access_gap' | 'access_hash_mismatch' }[] = [];
  count = 0;

  push(r: AccessRecord & { hash: Uint8Array }): void {
    this.count++;
    if (r.seq !== this.expected) this.problems.push({ seq: this.expected, kind: 'access_gap' });
    if (!bytesEqual(accessHash(this.prev, r), r.hash)) this.problems.push({ seq: r.seq, kind: 'access_hash_mismatch' });
    this.prev = r.hash;
    this.expected = r.seq + 1;
  }
}
