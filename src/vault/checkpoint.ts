import { InputError, KeyError } from '../errors';
import { signCheckpoint } from '../audit';
import { insertCheckpoint, listTenants, readSession, withTenant } from '../store';
import type { VaultDeps } from './deps';
import { sessionsOf } from './verify';

/** What `checkpoint` did for one session. */
export interface CheckpointResult {
  tenant: string;
  session: string;
  seq: number;
  head: string;
  /** What the witness made of it: recorded, unchanged, or refused because it had seen a later or different head (a rollback). */
  witness: 'recorded' | 'unchanged' | 'witness_ahead' | 'witness_fork' | 'none';
}

/**
 * Signs the current chain head of every session in scope, stores the checkpoint and
 * hands it to the witness. A witness that refuses (it holds a later or different head)
 * is reported, not overwritten: that is the database having been rolled back.
 */
export async function checkpoint(deps: VaultDeps, scope: { tenant?: string; session?: string }): Promise<CheckpointResult[]> {
  const signer = await deps.signer();
  if (!signer) throw new KeyError('KEY_NOT_FOUND', 'checkpoints are disabled (no signing key)');
  await deps.witness?.addPublicKeys(new Map([[signer.id, signer.publicKey]]));
  const all = (await listTenants(deps.store.db)).map((t) => t.tenant);
  if (scope.tenant !== undefined && !all.includes(scope.tenant)) throw new InputError('UNKNOWN_TENANT', `unknown tenant ${scope.tenant}`);
  const results: CheckpointResult[] = [];
  for (const tenant of scope.tenant !== undefined ? [scope.tenant] : all) {
    for await (const listed of sessionsOf(deps, tenant, scope.session)) {
      const s = await withTenant(deps.store.db, tenant, 'signing a checkpoint', async (tx) => {
        const row = await readSession(tx, tenant, listed.session);
        if (!row || row.headSeq === 0 || !row.headHash) return null;
        const signedAt = deps.clock();
        const note = signCheckpoint({ tenant, session: row.session, seq: row.headSeq, hash: row.headHash, time: signedAt }, signer);
        await insertCheckpoint(tx, { tenant, session: row.session, seq: row.headSeq, keyId: signer.id, hash: row.headHash, signedAt, note });
        return { row, note };
      });
      if (!s) continue;
      const witnessed = deps.witness ? await deps.witness.record(s.note) : 'none';
      results.push({ tenant, session: s.row.session, seq: s.row.headSeq, head: Buffer.from(s.row.headHash!).toString('hex'), witness: witnessed });
    }
  }
  deps.logger.info({ op: 'checkpoint', sessions: results.length }, 'checkpoints signed');
  return results;
}
