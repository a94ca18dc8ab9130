import { blake2b256, verifyDetached } from '../crypto';
import type { SealedSnapshot } from '../events';
import { signBytes, type CheckpointSigner } from './checkpoint';

/**
 * Signed snapshots: a state snapshot is sealed with a key derived from the session's data
 * key, so whoever holds that key (a leaked tenant key version unwraps it) can seal a state
 * of their own, at a head the vault signed and with that event's real hash, and a read
 * that starts from the snapshot would hand the agent a history the vault never wrote. The
 * vault therefore signs each snapshot it writes with the checkpoint key, over its place and
 * its sealed bytes:
 *
 *   session-vault/v1/snapshot/<tenant>/<session>
 *   <seq>
 *   <time of event seq, ms since the epoch>
 *   <base64 of the chain hash of event seq>
 *   sealed <key version> <base64 of BLAKE2b-256 of nonce ‖ ciphertext>
 *
 * and a vault that signs starts from no snapshot no trusted key signed. Pure.
 */
export type SnapshotPlace = Pick<SealedSnapshot, 'tenant' | 'session' | 'seq' | 'at' | 'headHash' | 'keyVersion' | 'nonce' | 'ciphertext'>;

/** The signed body of a snapshot. */
export function snapshotBody(s: SnapshotPlace): string {
  const sealed = new Uint8Array(s.nonce.length + s.ciphertext.length);
  sealed.set(s.nonce, 0);
  sealed.set(s.ciphertext, s.nonce.length);
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
  return `session-vault/v1/snapshot/${s.tenant}/${s.session}\n${s.seq}\n${s.at.getTime()}\n${b64(s.headHash)}\nsealed ${s.keyVersion} ${b64(blake2b256(sealed))}\n`;
}

/** A snapshot's signature as stored beside it. */
export interface SnapshotSignature {
  keyId: string;
  signature: Uint8Array;
}

/** Signs a sealed snapshot. */
export function signSnapshot(s: SnapshotPlace, signer: CheckpointSigner): SnapshotSignature {
  return { keyId: signer.id, signature: signBytes(signer, Buffer.from(snapshotBody(s), 'utf8')) };
}

/** Whether a trusted key signed this snapshot as it is stored (false for none stored). */
export function snapshotSigned(s: SnapshotPlace, stored: { keyId: string | null; signature: Uint8Array | null }, trusted: ReadonlyMap<string, Uint8Array>): boolean {
  if (stored.keyId === null || stored.signature === null) return false;
  const key = trusted.get(stored.keyId);
  return key !== undefined && verifyDetached(stored.signature, Buffer.from(snapshotBody(s), 'utf8'), key);
}
