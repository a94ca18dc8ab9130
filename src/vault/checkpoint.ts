import { InputError, KeyError, StorageError } from '../errors';
import { parseCheckpoint, signCheckpoint, type CheckpointSigner } from '../audit';
import { insertCheckpoint, listTenants, readSession, tenantSecrets, withTenant, type SessionRow } from '../store';
import { recordAccesses } from './access';
import { toHex } from '../crypto';
import type { VaultDeps } from './deps';
import { sessionRow } from './session-row';
import { sessionsOf } from './verify';
import { signableHead } from './signed-head';

/** What `checkpoint` did for one session. */
export interface CheckpointResult {
  tenant: string;
  session: string;
  seq: number;
  head: string;
  /**
   * What the witness made of it: recorded, unchanged, or refused because it had seen a
   * later or different head (a rollback). `superseded`: the witness had a later head, and
   * so has the database: another run signed and witnessed it meanwhile. `unsigned_head`:
   * not signed, nor handed to the witness, since no trusted key signed the head where the
   * session's earlier heads are signed, or the session has no checkpoint and not every event opens under its key
   * (events written without the keys: verify names them unsigned_tail), or this run could
   * not unwrap its key to check (logged with the key error's code).
   */
  witness: 'recorded' | 'unchanged' | 'superseded' | 'witness_ahead' | 'witness_fork' | 'none' | 'unsigned_head';
}

/**
 * Signs the current chain head of every session in scope, stores the checkpoint and
 * hands it to the witness. A witness that refuses (it holds a later or different head)
 * is reported, not overwritten: that is the database having been rolled back. A head no
 * trusted key signed, in a session whose earlier heads are signed, is reported and not
 * signed (vault/signed-head.ts): signing it would hide from verify events written without
 * the signing key. A session with no checkpoint is signed (adopted) when every event up
 * to its head opens under its key, and reported when one does not.
 */
export async function checkpoint(deps: VaultDeps, scope: { tenant?: string; session?: string }): Promise<CheckpointResult[]> {
  const signer = await deps.signer();
  if (!signer) throw new KeyError('KEY_NOT_FOUND', 'checkpoints are disabled (no signing key)');
  await deps.witness?.addPublicKeys(new Map([[signer.id, signer.publicKey]]));
  const all = (await listTenants(deps.store.db)).map((t) => t.tenant);
  if (scope.tenant !== undefined && !all.includes(scope.tenant)) throw new InputError('UNKNOWN_TENANT', `unknown tenant ${scope.tenant}`);
  const tenants = scope.tenant !== undefined ? [scope.tenant] : all;
  await fixTrailSecrets(deps, tenants);
  const results: CheckpointResult[] = [];
  for (const tenant of tenants) {
    for await (const listed of sessionsOf(deps, tenant, scope.session)) {
      const r = await signHead(deps, signer, tenant, listed);
      if (r) results.push(r);
    }
  }
  deps.logger.info({ op: 'checkpoint', sessions: results.length }, 'checkpoints signed');
  return results;
}

/** The action of the record that fixes a tenant's trail secret where nothing else has since migration 0061. */
export const TRAIL_SECRET_ACTION = 'trail.secret';

/**
 * Gives each tenant with no access record in the v3 form yet (one of a vault upgraded
 * across migration 0061 that no operator has acted on since) a record that fixes its trail
 * secret: `(vault)` `trail.secret`, witnessed. Until then its auditor has no secret to
 * tell the tenant's withheld records by, and a listing with records withheld could not be
 * checked for it (audit/trail-file.ts, `tenant_secret_unknown`). Run with `checkpoint`,
 * which operators schedule; a tenant created since 0061 has one from its creation.
 */
async function fixTrailSecrets(deps: VaultDeps, tenants: readonly string[]): Promise<void> {
  const fixed = await tenantSecrets(deps.store, tenants).catch((e: unknown) => {
    throw new StorageError('ACCESS_TRAIL_UNAVAILABLE', "the access trail cannot be read for the tenants' trail secrets, so the checkpoint run is refused", { cause: e });
  });
  const missing = tenants.filter((t) => !fixed.has(t));
  if (missing.length === 0) return;
  await recordAccesses(deps, missing.map((tenant) => ({ actor: '(vault)', action: TRAIL_SECRET_ACTION, tenant, session: null, reason: null, outcome: 'granted' })));
  deps.logger.info({ op: 'checkpoint', tenants: missing.length }, "tenants' trail secrets fixed");
}

/** Attempts at one session's head while appends keep moving it. */
const ATTEMPTS = 4;

/**
 * Signs one session's current head, once it is checked as signed by a trusted key (or the
 * session has no checkpoint at all and every event opens), and hands it to the witness;
 * null for an empty session, or one whose head moved on every attempt (the next run signs
 * it). The head is checked, then signed in a transaction that finds it unchanged; one
 * that moved between is checked again.
 */
async function signHead(deps: VaultDeps, signer: CheckpointSigner, tenant: string, listed: SessionRow): Promise<CheckpointResult | null> {
  let head: { headSeq: number; headHash: Uint8Array | null } = listed;
  for (let attempt = 0; attempt < ATTEMPTS && head.headSeq > 0 && head.headHash; attempt++) {
    const checked = head;
    if (!(await signableHead(deps, signer, tenant, listed.session, checked, 'checkpoint'))) {
      return { tenant, session: listed.session, seq: checked.headSeq, head: toHex(checked.headHash!), witness: 'unsigned_head' };
    }
    const s = await withTenant(deps.store.db, tenant, 'signing a checkpoint', async (tx) => {
      const row = await readSession(tx, tenant, listed.session);
      if (!row || row.headSeq !== checked.headSeq) return { moved: row };
      const signedAt = deps.clock();
      const note = signCheckpoint({ tenant, session: row.session, seq: row.headSeq, hash: row.headHash!, time: signedAt }, signer);
      await insertCheckpoint(tx, { tenant, session: row.session, seq: row.headSeq, keyId: signer.id, hash: row.headHash!, signedAt, note });
      return { note };
    });
    if ('moved' in s) {
      if (!s.moved) return null;
      head = s.moved;
      continue;
    }
    const witnessed = deps.witness ? await deps.witness.record(s.note) : 'none';
    const outcome = witnessed === 'witness_ahead' && (await headReached(deps, tenant, listed.session)) ? 'superseded' : witnessed;
    return { tenant, session: listed.session, seq: checked.headSeq, head: toHex(checked.headHash!), witness: outcome };
  }
  return null;
}

/**
 * Whether the database's head of the session is at or past the witness's: a witness ahead
 * of the head a run signed is then another run's later head, witnessed meanwhile (two
 * `checkpoint` runs at once, appends between them), not a database rolled back behind it.
 * Whether the chain runs through the witnessed head is verify's to check.
 */
async function headReached(deps: VaultDeps, tenant: string, session: string): Promise<boolean> {
  const note = await deps.witness!.latest(tenant, session);
  const witnessed = note ? parseCheckpoint(note)?.checkpoint.seq : undefined;
  if (witnessed === undefined) return false;
  const row = await sessionRow(deps, tenant, session);
  return !!row && row.headSeq >= witnessed;
}
