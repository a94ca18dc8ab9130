import { signWrap, storedAfterPeriod, wrapSigned, type CheckpointSigner, type KeyPeriods, type WrapSubject } from '../audit';
import type { SessionRow, TenantKeyRow, WrapColumns } from '../store';

/**
 * The columns a new wrap is stored with, at its place `seq` in its key's sequence of
 * wraps: signed by the checkpoint key (audit/key-wrap.ts), so that `verify` can tell it
 * from other bytes written over the key; unsigned where the vault signs nothing.
 */
export function signedWrap(signer: CheckpointSigner | null, subject: WrapSubject, seq: number, wrapped: Uint8Array): WrapColumns {
  if (!signer) return { wrapSeq: seq, wrapKeyId: null, wrapSignature: null };
  const s = signWrap(subject, seq, wrapped, signer);
  return { wrapSeq: seq, wrapKeyId: s.keyId, wrapSignature: s.signature };
}

/** The place a new wrap of a key takes: after the stored one (the database refuses going back, drizzle/0049). */
export function nextWrapSeq(stored: { wrapSeq: number | null }): number {
  return (stored.wrapSeq ?? 0) + 1;
}

/** What a session's stored wrap is a wrap of. */
export function sessionSubject(s: Pick<SessionRow, 'tenant' | 'session' | 'dataKeyVersion' | 'tenantKeyVersion'>): WrapSubject {
  return { kind: 'session', tenant: s.tenant, session: s.session, dataKeyVersion: s.dataKeyVersion, tenantKeyVersion: s.tenantKeyVersion };
}

/** What a tenant key version's stored wrap is a wrap of. */
export function tenantKeySubject(k: Pick<TenantKeyRow, 'tenant' | 'version' | 'masterKeyId'>): WrapSubject {
  return { kind: 'tenant', tenant: k.tenant, version: k.version, masterKeyId: k.masterKeyId };
}

/**
 * Whether a trusted key signed a stored wrap as it stands (false for none stored), and, a
 * retired key, while it was in its period by when the database stored the wrap: a wrap
 * carries no time, so a retired key's leaked secret half could otherwise sign a data key of
 * its holder's own into a session of theirs long after (audit/key-period.ts).
 */
export function storedWrapSigned(subject: WrapSubject, wrapped: Uint8Array, row: WrapColumns, trusted: ReadonlyMap<string, Uint8Array>, periods: KeyPeriods): boolean {
  if (row.wrapKeyId !== null && storedAfterPeriod(row.wrapKeyId, row.wrapStoredAt, periods)) return false;
  return wrapSigned(subject, wrapped, { seq: row.wrapSeq, keyId: row.wrapKeyId, signature: row.wrapSignature }, trusted);
}
