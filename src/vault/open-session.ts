import { InputError, KeyError } from '../errors';
import { insertSession, readPolicy, readSession, withTenant, type SessionRow, type TenantTx } from '../store';
import { newSessionFloor } from '../retention';
import { DATA_KEY_VERSION } from './key-access';
import type { VaultDeps } from './deps';
import type { OpenSession } from './session-cache';
import type { CheckpointSigner } from '../audit';
import { sessionSubject, signedWrap } from './key-wraps';

/**
 * Loads a session (data key unwrapped, head) into the cache, creating it when `create`
 * is set and it does not exist, its key's wrap signed by `create.signer` (the appending
 * vault's, already read outside the transaction; none where it signs nothing).
 * UNKNOWN_SESSION when absent and not creating, UNKNOWN_TENANT when the tenant does not
 * exist.
 */
export async function openSession(
  deps: VaultDeps,
  tenant: string,
  session: string,
  create: { agent: string | null; signer: CheckpointSigner | null } | null,
): Promise<OpenSession> {
  const opened = await withTenant(deps.store.db, tenant, 'opening a session', async (tx) => {
    let row = await readSession(tx, tenant, session);
    if (!row && create) {
      const fresh = await deps.keys.newDataKey(tx, tenant, session);
      // The session is kept under the tenant's retention as it is today: its floor.
      const retainFloor = newSessionFloor(await readPolicy(tx, tenant), deps.defaultRetention);
      const created = await insertSession(tx, {
        tenant,
        session,
        agent: create.agent,
        createdAt: deps.clock(),
        dataKeyVersion: DATA_KEY_VERSION,
        tenantKeyVersion: fresh.tenantKeyVersion,
        wrappedDataKey: fresh.wrapped,
        ...signedWrap(create.signer, sessionSubject({ tenant, session, dataKeyVersion: DATA_KEY_VERSION, tenantKeyVersion: fresh.tenantKeyVersion }), 1, fresh.wrapped),
        retainFloor,
      });
      if (created) deps.logger.info({ op: 'session.create', agent: create.agent }, 'session created');
      fresh.dataKey.dispose();
      row = await readSession(tx, tenant, session);
    }
    if (!row) throw new InputError('UNKNOWN_SESSION', `unknown session ${tenant}/${session}`);
    return toOpenSession(deps, tx, row);
  });
  deps.cache.set(tenant, session, opened);
  return opened;
}

async function toOpenSession(deps: VaultDeps, tx: TenantTx, row: SessionRow): Promise<OpenSession> {
  if (row.status === 'purged') throw new KeyError('KEY_DESTROYED', `session ${row.tenant}/${row.session} was purged`);
  return {
    agent: row.agent,
    status: row.status,
    dataKey: await deps.keys.dataKey(tx, row),
    dataKeyVersion: row.dataKeyVersion,
    headSeq: row.headSeq,
    headHash: row.headHash,
    lastAt: row.lastAt,
    headFromStore: true,
    readableHead: null,
  };
}
