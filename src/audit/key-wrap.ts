import { blake2b256, verifyDetached } from '../crypto';
import { signBytes, type CheckpointSigner } from './checkpoint';

/**
 * Signed key wraps: every wrapped key the vault stores (a session's data key under a
 * tenant key version, a tenant key version under a master key) carries an Ed25519
 * signature by the checkpoint key over what the wrap is of, where it sits in that key's
 * sequence of wraps, and a hash of its bytes:
 *
 *   session-vault/v1/data-key/<tenant>/<session>     or   session-vault/v1/tenant-key/<tenant>/<version>
 *   <wrap seq>                                             <wrap seq>
 *   data-key <n> tenant-key <n>                            master <master key id>
 *   <base64 of BLAKE2b-256 of the wrapped bytes>           <base64 of BLAKE2b-256 of the wrapped bytes>
 *
 * The operator role may change wraps (rewrap, master rotation, a move to an HSM or KMS),
 * so the database cannot tell other bytes written over a key from a rewrap. The signature
 * can: `verify` checks it with public keys only, and names a wrap no trusted key signed.
 * The wrap seq goes up with every new wrap of the same key and the database refuses it
 * going back (drizzle/0049), so an earlier signed wrap, under a master key since removed,
 * cannot be put back. Pure.
 */
export type WrapSubject =
  | { kind: 'session'; tenant: string; session: string; dataKeyVersion: number; tenantKeyVersion: number }
  | { kind: 'tenant'; tenant: string; version: number; masterKeyId: string };

/** A wrap's signature as stored beside it: the wrap seq it was signed at, the signing key's id, the 64 bytes. */
export interface WrapSignature {
  seq: number;
  keyId: string;
  signature: Uint8Array;
}

/** The signed body of a wrap. */
export function wrapBody(subject: WrapSubject, seq: number, wrapped: Uint8Array): string {
  const digest = Buffer.from(blake2b256(wrapped)).toString('base64');
  if (subject.kind === 'session') {
    return `session-vault/v1/data-key/${subject.tenant}/${subject.session}\n${seq}\ndata-key ${subject.dataKeyVersion} tenant-key ${subject.tenantKeyVersion}\n${digest}\n`;
  }
  if (/[\n\r]/.test(subject.masterKeyId)) throw new RangeError('a master key id is one line');
  return `session-vault/v1/tenant-key/${subject.tenant}/${subject.version}\n${seq}\nmaster ${subject.masterKeyId}\n${digest}\n`;
}

/** Signs a wrap at its seq. */
export function signWrap(subject: WrapSubject, seq: number, wrapped: Uint8Array, signer: CheckpointSigner): WrapSignature {
  return { seq, keyId: signer.id, signature: signBytes(signer, Buffer.from(wrapBody(subject, seq, wrapped), 'utf8')) };
}

/** The signature columns of a stored wrap, any of them missing where none was written. */
export interface StoredWrapSignature {
  seq: number | null;
  keyId: string | null;
  signature: Uint8Array | null;
}

/** Whether a trusted key signed this wrap of this subject at its stored seq. */
export function wrapSigned(subject: WrapSubject, wrapped: Uint8Array, stored: StoredWrapSignature, trusted: ReadonlyMap<string, Uint8Array>): boolean {
  if (stored.seq === null || stored.keyId === null || stored.signature === null) return false;
  const key = trusted.get(stored.keyId);
  if (!key || (subject.kind === 'tenant' && /[\n\r]/.test(subject.masterKeyId))) return false; // no body to check it against
  return verifyDetached(stored.signature, Buffer.from(wrapBody(subject, stored.seq, wrapped), 'utf8'), key);
}
