import { InputError } from '../errors';
import { deleteHold, destroyAllTenantKeys, insertHold, listTenants, readHolds, readSession, shredSessionKeys, withTenant, type HoldRow } from '../store';
import type { VaultDeps } from './deps';

/**
 * Legal holds and crypto-shredding. Shredding erases content from an append-only log by
 * destroying the keys that seal it: the ciphertext stays (so every chain still verifies)
 * but can never be opened again. A session under legal hold is never shredded.
 */

export async function setHold(deps: VaultDeps, tenant: string, session: string, setBy: string, reason: string): Promise<boolean> {
  return withTenant(deps.store.db, tenant, 'setting a legal hold', async (tx) => {
    if (!(await readSession(tx, tenant, session))) throw new InputError('UNKNOWN_SESSION', `unknown session ${tenant}/${session}`);
    return insertHold(tx, { tenant, session, reason, setBy, setAt: deps.clock() });
  });
}

export async function clearHold(deps: VaultDeps, tenant: string, session: string): Promise<boolean> {
  return withTenant(deps.store.db, tenant, 'clearing a legal hold', (tx) => deleteHold(tx, tenant, session));
}

/** Holds in force, for one tenant or all. */
export async function listHolds(deps: VaultDeps, tenant?: string): Promise<HoldRow[]> {
  const tenants = tenant !== undefined ? [tenant] : (await listTenants(deps.store.db)).map((t) => t.tenant);
  const out: HoldRow[] = [];
  for (const t of tenants) out.push(...(await withTenant(deps.store.db, t, 'listing legal holds', (tx) => readHolds(tx, t))));
  return out;
}

/**
 * Destroys the data key of one session, or — without `session` — every session key and
 * every key version of the tenant. Refused (LEGAL_HOLD, nothing changed) while a hold
 * applies to the session, or to any session of the tenant. One transaction.
 */
export async function shred(deps: VaultDeps, tenant: string, session?: string): Promise<{ sessions: number; tenantKeysDestroyed: boolean }> {
  const result = await withTenant(deps.store.db, tenant, 'shredding keys', async (tx) => {
    const holds = await readHolds(tx, tenant, session);
    if (holds.length > 0) {
      throw new InputError('LEGAL_HOLD', `${holds.length} session(s) under legal hold (${holds.map((h) => h.session).slice(0, 5).join(', ')}); clear the hold first`);
    }
    if (session !== undefined) {
      if (!(await readSession(tx, tenant, session))) throw new InputError('UNKNOWN_SESSION', `unknown session ${tenant}/${session}`);
      return { sessions: await shredSessionKeys(tx, tenant, session), tenantKeysDestroyed: false };
    }
    const n = await shredSessionKeys(tx, tenant);
    await destroyAllTenantKeys(tx, tenant);
    return { sessions: n, tenantKeysDestroyed: true };
  });
  // This process forgets the keys at once; other processes fail on their next unwrap.
  if (session !== undefined) deps.cache.delete(tenant, session);
  else {
    deps.cache.clear();
    deps.keys.forgetTenant(tenant);
  }
  deps.logger.info({ op: 'keys.shred', tenant, session, sessions: result.sessions }, 'keys shredded');
  return result;
}
