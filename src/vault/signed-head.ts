import { IntegrityError } from '../errors';
import { bytesEqual } from '../crypto';
import { verifyCheckpoint } from '../audit';
import { readCheckpointsUpTo, withTenant } from '../store';
import type { VaultDeps } from './deps';

/** Checkpoints read back from the head: its own (one a signing key) and the latest before it. */
const LOOK_BACK = 8;

/**
 * Before a vault that signs appends onto a head it did not write itself (a session just
 * loaded, or reloaded after another writer moved it), the head must carry a checkpoint a
 * trusted key signed, where the session has checkpoints at all. Every append of a vault
 * that signs stores its head's checkpoint in the same statement, so a head without one
 * was written by someone without the signing key: with the application role's
 * credentials alone, a correctly chained event that no key opens. Appending onto it would
 * sign it into the chain, and `verify` could no longer tell (audit/head-check.ts,
 * unsignedTail). CHAIN_BROKEN, nothing appended. A session with no checkpoint was written
 * with signing off, and is not held to this.
 */
export async function requireSignedHead(
  deps: VaultDeps,
  signer: { id: string; publicKey: Uint8Array },
  tenant: string,
  session: string,
  head: { headSeq: number; headHash: Uint8Array | null },
): Promise<void> {
  if (!(await headSigned(deps, signer, tenant, session, head))) {
    throw new IntegrityError(
      'CHAIN_BROKEN',
      `the head of ${tenant}/${session} (seq ${head.headSeq}) has no checkpoint a trusted key signed, where the session's earlier heads have: events were written outside the vault (verify names unsigned_tail); nothing was appended`,
    );
  }
}

/**
 * Whether a vault that signs may sign over this head (an append onto it, a `checkpoint`
 * run: vault/checkpoint.ts): a trusted key signed it, or the session has no checkpoint at
 * all (written with signing off), or it has no head yet.
 */
export async function headSigned(
  deps: VaultDeps,
  signer: { id: string; publicKey: Uint8Array },
  tenant: string,
  session: string,
  head: { headSeq: number; headHash: Uint8Array | null },
): Promise<boolean> {
  const hash = head.headHash;
  if (head.headSeq === 0 || hash === null) return true;
  const rows = await withTenant(deps.store.db, tenant, "reading the head's checkpoint", (tx) => readCheckpointsUpTo(tx, tenant, session, head.headSeq, LOOK_BACK));
  if (rows.length === 0) return true;
  const signedBy = (trusted: ReadonlyMap<string, Uint8Array>) =>
    rows.some((r) => {
      if (r.seq !== head.headSeq) return false;
      const v = verifyCheckpoint(r.note, trusted);
      return typeof v !== 'string' && v.checkpoint.tenant === tenant && v.checkpoint.session === session && v.checkpoint.seq === head.headSeq && bytesEqual(v.checkpoint.hash, hash);
    });
  // This vault's own key signed it, as a rule: the other trusted keys (retired ones, the
  // witness's list, which may be an S3 request away) are read only when it did not.
  return signedBy(new Map([[signer.id, signer.publicKey]])) || signedBy(await deps.trustedKeys());
}
