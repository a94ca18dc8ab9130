import { IntegrityError, isVaultError } from '../errors';
import { bytesEqual, toHex } from '../crypto';
import { checkpointTimeProblem, verifyCheckpoint, type KeyPeriods } from '../audit';
import { readCheckpointsAt, readCheckpointsUpTo, readEventTime, withTenant, type CheckpointRow, type TenantTx } from '../store';
import type { VaultDeps } from './deps';
import { decryptedEvents } from './read';
import type { OpenSession } from './session-cache';
import { ownKeyFirst } from './own-key-first';
import type { RecordedHead } from '../events';

type Head = { headSeq: number; headHash: Uint8Array | null };
type Signer = { id: string; publicKey: Uint8Array };

/**
 * Before a vault that signs appends onto a head it did not write itself (a session just
 * loaded, or reloaded after another writer moved it), the head must be one it may sign
 * over (headUnsigned). Every append of a vault that signs stores its head's checkpoint in
 * the same statement, so a head without one was written by someone without the signing
 * key: with the application role's credentials alone, a correctly chained event that no
 * key opens. Appending onto it would sign it into the chain, and `verify` could no longer
 * tell (audit/head-check.ts, unsignedTail). CHAIN_BROKEN, nothing appended.
 */
export async function requireSignedHead(deps: VaultDeps, signer: Signer, tenant: string, session: string, head: Head): Promise<void> {
  const why = await headUnsigned(deps, signer, tenant, session, head);
  if (why !== null) {
    throw new IntegrityError(
      'CHAIN_BROKEN',
      `the head of ${tenant}/${session} (seq ${head.headSeq}) ${why}: events were written outside the vault (verify names unsigned_tail); nothing was appended`,
    );
  }
}

/**
 * Why a vault that signs may not sign over this head (an append onto it, a `checkpoint`
 * run: vault/checkpoint.ts), or null when it may: a trusted key signed it, or the session
 * has no head yet, or it has no checkpoint at all and every event up to the head opens
 * under the session's key (opensToHead).
 */
export async function headUnsigned(deps: VaultDeps, signer: Signer, tenant: string, session: string, head: Head): Promise<string | null> {
  const found = await signedState(deps, signer, tenant, session, head);
  if (found === 'signed') return null;
  if (found === 'unsigned') return "has no checkpoint a trusted key signed, where the session's earlier heads have";
  return (await opensToHead(deps, tenant, session, head.headSeq, head.headHash!)) ? null : "has no checkpoint, and the session's events do not all open under its key";
}

/**
 * Before a read of a vault that signs hands out a session's events (its state, its events,
 * a tail or particular events, what it holds caught up): the head the read reached must be
 * one a trusted key signed, as an append's must. A holder of a leaked tenant key version
 * with the application role's credentials can unwrap a session's data key, seal an event
 * that opens and chain it onto the head (a tool result that says a transfer was approved),
 * but cannot sign the new head: appends onto it are refused, and so is every read, rather
 * than hand the agent what the vault never wrote. CHAIN_BROKEN, nothing read; but a read
 * bounded at a seq whose head a trusted key signed (`upto`: a state at a seq, events up to
 * one) gets that head back, for the caller to check the event there against: the history
 * before the forged tail is not lost with it. A session
 * with no checkpoint at all (written with signing off) is read as before: an append
 * adopts it, or a `checkpoint` run. Checked once a head: the last one checked, or written
 * by this process, is kept with the open session. A vault that signs nothing checks no
 * heads, as its appends do not.
 */
export async function requireReadableHead(deps: VaultDeps, tenant: string, session: string, s: OpenSession, head: Head, upto?: number): Promise<RecordedHead | null> {
  const hash = head.headHash;
  if (headKnown(s, head) || hash === null) return null;
  const signer = await deps.signer();
  if (signer && (await signedState(deps, signer, tenant, session, head)) === 'unsigned') {
    // What a trusted key signed before the forged tail still reads, bounded at a signed seq:
    // the way to carry the genuine history on (the caller checks the event there has the hash).
    const signedAt = upto !== undefined && upto >= 1 && upto < head.headSeq ? await signedHashAt(deps, signer, tenant, session, upto) : null;
    if (signedAt) return { seq: upto!, hash: signedAt };
    const last = await lastSignedSeq(deps, signer, tenant, session, head.headSeq - 1);
    throw new IntegrityError(
      'CHAIN_BROKEN',
      `the head of ${tenant}/${session} (seq ${head.headSeq}) has no checkpoint a trusted key signed, where the session's earlier heads have: events were written outside the vault (verify names unsigned_tail); nothing was read` +
        (last > 0 ? `. What the vault signed reads up to seq ${last} (a read bounded there: atSeq, toSeq)` : ''),
    );
  }
  s.readableHead = { seq: head.headSeq, hash: new Uint8Array(hash) };
  return null;
}

/** The chain hash a trusted key signed at `seq` of the session (this vault's key first), or null. */
async function signedHashAt(deps: VaultDeps, signer: Signer, tenant: string, session: string, seq: number): Promise<Uint8Array | null> {
  const periods = await deps.keyPeriods();
  const at = (keys: ReadonlyMap<string, Uint8Array>) =>
    withTenant(deps.store.db, tenant, 'reading a checkpoint', async (tx) => {
      const rows = await readCheckpointsAt(tx, tenant, session, seq, [...keys.keys()]);
      const eventAt = rows.length > 0 ? await readEventTime(tx, tenant, session, seq) : null;
      for (const r of rows) {
        const hash = signedHash(r, keys, periods, tenant, session, seq, eventAt);
        if (hash) return hash;
      }
      return null;
    });
  return ownKeyFirst(deps, signer, at, (hash) => hash !== null);
}

/** The latest seq at or below `upto` whose head a trusted key signed, among the session's last 64 checkpoints (0: none found), for a refusal to name. */
async function lastSignedSeq(deps: VaultDeps, signer: Signer, tenant: string, session: string, upto: number): Promise<number> {
  if (upto < 1) return 0;
  const keys = new Map([...(await deps.trustedKeys()), [signer.id, signer.publicKey]]);
  const periods = await deps.keyPeriods();
  const rows = await withTenant(deps.store.db, tenant, 'reading checkpoints', (tx) => readCheckpointsUpTo(tx, tenant, session, upto, 64));
  // For the refusal's text only: each row's period is checked, its event's time is not read.
  return rows.find((r) => signedHash(r, keys, periods, tenant, session, r.seq, null) !== null)?.seq ?? 0;
}

/**
 * The chain hash a checkpoint note states for this session and seq, if one of `keys`
 * signed it, dated in that key's period and no earlier than the event at `seq` was
 * written (`eventAt`; null where it is not at hand), and stored by the database in the
 * key's period: a retired key's secret half, leaked, vouches for no head it signs later,
 * nor for one it dates back (audit/key-period.ts). Else null.
 */
function signedHash(row: Pick<CheckpointRow, 'note' | 'storedAt'>, keys: ReadonlyMap<string, Uint8Array>, periods: KeyPeriods, tenant: string, session: string, seq: number, eventAt: Date | null): Uint8Array | null {
  const v = verifyCheckpoint(row.note, keys);
  if (typeof v === 'string' || v.checkpoint.tenant !== tenant || v.checkpoint.session !== session || v.checkpoint.seq !== seq) return null;
  return checkpointTimeProblem(v, periods, eventAt, row.storedAt) === null ? v.checkpoint.hash : null;
}

/**
 * Whether a read may reach this head without checking it: none yet, or the one kept with
 * the open session. Synchronous, so that a read of a head it knows (every read of an
 * agent's own session) does not wait a turn of the event loop for requireReadableHead.
 */
export function headKnown(s: OpenSession, head: Head): boolean {
  if (head.headSeq === 0 || head.headHash === null) return true;
  const known = s.readableHead;
  return known !== null && known.seq === head.headSeq && bytesEqual(known.hash, head.headHash);
}

/** What the session's checkpoints say of the head (checkpointedHead), under this vault's own key or else any trusted key. */
async function signedState(deps: VaultDeps, signer: Signer, tenant: string, session: string, head: Head): Promise<'signed' | 'unsigned' | 'none'> {
  const periods = await deps.keyPeriods();
  const inScope = (keys: ReadonlyMap<string, Uint8Array>) =>
    withTenant(deps.store.db, tenant, "reading the head's checkpoint", (tx) => checkpointedHead(tx, keys, periods, tenant, session, head));
  // Each attempt its own transaction: the other trusted keys are read outside one.
  return ownKeyFirst(deps, signer, inScope, (found) => found === 'signed');
}

/**
 * Whether a run that is not an append may sign over this head (a `checkpoint` run, a
 * shred's marker): headUnsigned, where a session with no checkpoint is checked by opening
 * its events, which needs its keys. A run that cannot unwrap them (a job given the signing
 * key but not the master key, a key service that refuses) leaves that session unsigned,
 * says why in its log (`op`), and goes on with the others.
 */
export async function signableHead(deps: VaultDeps, signer: Signer, tenant: string, session: string, head: Head, op: string): Promise<boolean> {
  try {
    return (await headUnsigned(deps, signer, tenant, session, head)) === null;
  } catch (e) {
    if (!isVaultError(e) || e.category !== 'key') throw e;
    deps.logger.warn({ op, tenant, session, code: e.code }, 'could not open the session to adopt its head: left unsigned');
    return false;
  }
}

/**
 * What the session's checkpoints say of this head, read in the caller's transaction:
 * `signed` by one of `keys`, in its period and no earlier than the head event (or there
 * is no head yet), `unsigned` where the session has checkpoints but none of these keys
 * made one at the head, `none` where it has no
 * checkpoint at or before the head at all (written with signing off, or by someone
 * without the keys).
 */
export async function checkpointedHead(tx: TenantTx, keys: ReadonlyMap<string, Uint8Array>, periods: KeyPeriods, tenant: string, session: string, head: Head): Promise<'signed' | 'unsigned' | 'none'> {
  const hash = head.headHash;
  if (head.headSeq === 0 || hash === null) return 'signed';
  // Read by key id, so that rows anyone else stored at the head cannot crowd out the one
  // a trusted key signed.
  const rows = await readCheckpointsAt(tx, tenant, session, head.headSeq, [...keys.keys()]);
  const eventAt = rows.length > 0 ? await readEventTime(tx, tenant, session, head.headSeq) : null;
  const signed = rows.some((r) => {
    const stated = signedHash(r, keys, periods, tenant, session, head.headSeq, eventAt);
    return stated !== null && bytesEqual(stated, hash);
  });
  if (signed) return 'signed';
  return (await readCheckpointsUpTo(tx, tenant, session, head.headSeq, 1)).length === 0 ? 'none' : 'unsigned';
}

/** What an adoption check cannot get past: the events are not shown to be the key holder's. */
const UNPROVEN = new Set(['DECRYPTION_FAILED', 'CHAIN_BROKEN', 'KEY_DESTROYED', 'ARCHIVE_MISSING', 'ARCHIVE_CORRUPT']);

/**
 * A session with no checkpoint at all was written by a vault with signing off (before it
 * was turned on), or its events by someone without the keys: the application role alone
 * can chain an event no key opens onto any head, the first one included. Which of the two
 * shows by opening every event up to the head: a ciphertext opens under the session's key
 * only if it was sealed with it, where it is (the associated data binds tenant, session,
 * seq and type), and the read checks each row against the chain (vault/read.ts). So a
 * session whose every event opens, and whose last is the head, was written by a holder of
 * its key, and a vault that signs adopts it: its next append, or a `checkpoint` run,
 * signs the head. This reads the whole session once, in a process that loads it, and
 * only for a session no vault that signs has written. The plaintext is dropped as it is
 * read: nothing is returned, kept or logged. False as well where nothing can open them any
 * more (the key destroyed: a session shredded or purged with signing off) or the archive
 * object holding them is missing or altered: what cannot be shown is not signed. Storage
 * errors (the database or the object store unreachable) are thrown as they are.
 */
async function opensToHead(deps: VaultDeps, tenant: string, session: string, headSeq: number, headHash: Uint8Array): Promise<boolean> {
  let last: { seq: number; hash: string } | undefined;
  try {
    for await (const events of decryptedEvents(deps, tenant, session, 1, headSeq).chunks()) {
      const e = events[events.length - 1];
      if (e) last = { seq: e.seq, hash: e.hash };
    }
  } catch (e) {
    if (isVaultError(e) && UNPROVEN.has(e.code)) return false;
    throw e;
  }
  return last?.seq === headSeq && last.hash === toHex(headHash);
}
