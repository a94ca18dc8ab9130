import { KeyError } from '../errors';
import { SecretBytes, bytes, deriveKey, frame, openText, sealText, str, u32, u64 } from '../crypto';

/**
 * Sealed state snapshots: the replayed agent state as of event `seq`, so reading the
 * latest state folds only the events after it. Pure but for sealing's nonce.
 *
 *   key  = BLAKE2b-256 keyed with the session data key over
 *          str("session-vault/snapshot-key/v1") ‖ str(tenant) ‖ str(session) ‖ u64(seq)
 *   aad  = str("session-vault/snapshot/v1") ‖ str(tenant) ‖ str(session) ‖ u64(seq)
 *          ‖ u64(at ms) ‖ bytes(head hash) ‖ u32(key version)
 *
 * The associated data binds the chain head the snapshot folds up to: a snapshot moved
 * to another session or seq, or relabelled with another head, does not open, and one
 * whose head is not the chain's hash at that seq is never used (src/vault/snapshots.ts).
 * Its own key (not the data key) keeps snapshots apart from every event's key. Key
 * version 2 pads the state's JSON first (crypto/padding.ts), as events' v3 does; 1 does not.
 */
export const SNAPSHOT_KEY_TAG = 'session-vault/snapshot-key/v1';
export const SNAPSHOT_TAG = 'session-vault/snapshot/v1';
export const SNAPSHOT_V1 = 1;
export const SNAPSHOT_V2 = 2;

/** A snapshot as stored. */
export interface SealedSnapshot {
  tenant: string;
  session: string;
  seq: number;
  at: Date;
  headHash: Uint8Array;
  keyVersion: number;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

type Place = Pick<SealedSnapshot, 'tenant' | 'session' | 'seq' | 'at' | 'headHash' | 'keyVersion'>;

function snapshotKey(dataKey: SecretBytes, p: Pick<Place, 'tenant' | 'session' | 'seq'>): SecretBytes {
  return deriveKey(dataKey, frame([str(SNAPSHOT_KEY_TAG), str(p.tenant), str(p.session), u64(p.seq)]));
}

export function snapshotAad(p: Place): Uint8Array {
  return frame([str(SNAPSHOT_TAG), str(p.tenant), str(p.session), u64(p.seq), u64(p.at.getTime()), bytes(p.headHash), u32(p.keyVersion)]);
}

/** Seals a state, given as its JSON text, as the snapshot of `place`: padded (v2), or not (v1, which a version before padding reads). */
export function sealSnapshot(stateJson: string, place: Omit<Place, 'keyVersion'>, dataKey: SecretBytes, pad = true): SealedSnapshot {
  const p = { ...place, keyVersion: pad ? SNAPSHOT_V2 : SNAPSHOT_V1 };
  const key = snapshotKey(dataKey, p);
  try {
    const sealed = sealText(key, stateJson, snapshotAad(p), pad);
    return { ...p, nonce: sealed.nonce, ciphertext: sealed.ciphertext };
  } finally {
    key.dispose();
  }
}

/** Opens a snapshot's state. KeyError(DECRYPTION_FAILED) if it does not open where it is. */
export function openSnapshot(s: SealedSnapshot, dataKey: SecretBytes): unknown {
  if (s.keyVersion !== SNAPSHOT_V1 && s.keyVersion !== SNAPSHOT_V2) throw new KeyError('DECRYPTION_FAILED', 'decryption failed');
  const key = snapshotKey(dataKey, s);
  try {
    return JSON.parse(openText(key, s, snapshotAad(s), s.keyVersion === SNAPSHOT_V2));
  } finally {
    key.dispose();
  }
}
