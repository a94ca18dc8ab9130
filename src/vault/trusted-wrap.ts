import { IntegrityError } from '../errors';
import type { CheckpointSigner, KeyPeriods, WrapSubject } from '../audit';
import { readWrapsSigned, type TenantTx, type WrapColumns } from '../store';
import { storedWrapSigned } from './key-wraps';

/**
 * Before a stored wrap is opened (a session's data key, a tenant key version) or wrapped
 * anew: WRAP_UNSIGNED where its tenant's wraps are all signed (drizzle/0051) and no
 * trusted key signed this one. Such a wrap was written outside the vault, by someone who
 * held the key above it (a leaked tenant key version, with database credentials): the key
 * it wraps is theirs, so the vault puts nothing under it, reads nothing from it, and does
 * not sign it over in a rewrap. In a tenant whose older wraps are not all signed yet, any
 * wrap that opens is used, as before (`keys check --sign` signs them and sets the rule).
 */
export type WrapCheck = (tx: TenantTx, subject: WrapSubject, wrapped: Uint8Array, row: WrapColumns) => Promise<void>;

export function wrapCheck(
  signer: () => Promise<CheckpointSigner | null>,
  trustedKeys: () => Promise<ReadonlyMap<string, Uint8Array>>,
  keyPeriods: () => Promise<KeyPeriods>,
): WrapCheck {
  return async (tx, subject, wrapped, row) => {
    // This vault's own key signed it, as a rule; the other trusted keys (retired ones, the
    // witness's list, which may be an S3 request away) are read only where it did not. A
    // retired key's counts only where the database stored the wrap in the key's period.
    const own = await signer();
    const periods = await keyPeriods();
    if (own && storedWrapSigned(subject, wrapped, row, new Map([[own.id, own.publicKey]]), periods)) return;
    if (!(await readWrapsSigned(tx, subject.tenant))) return;
    if (storedWrapSigned(subject, wrapped, row, await trustedKeys(), periods)) return;
    throw new IntegrityError('WRAP_UNSIGNED', `${wrapName(subject)} carries no signature of a trusted key, where every wrap of tenant ${subject.tenant} is signed: it was written outside the vault, and its key is not used (verify names it)`);
  };
}

function wrapName(s: WrapSubject): string {
  return s.kind === 'session' ? `the key wrap of session ${s.tenant}/${s.session}` : `the wrap of tenant ${s.tenant}'s key version ${s.version}`;
}
