import { InputError } from '../errors';
import type { SecretBytes } from '../crypto';
import { isoTime } from '../domain';
import { assertCanDestroy, assertCanRetire, dataKeyAad, newTenantKey, wrapKey, type TenantKeyState } from '../keys';
import { insertTenantKey, listSessions, listTenantKeys, readHolds, readSession, rewrapSessionKey, setTenantKeyState, withTenant, type SessionRow } from '../store';
import type { VaultDeps } from './deps';
import { nextWrapSeq, sessionSubject, signedWrap, tenantKeySubject } from './key-wraps';

/** A tenant key version as `keys list` shows it: never key material. */
export interface TenantKeyInfo {
  version: number;
  state: TenantKeyState;
  createdAt: string;
  masterKeyId: string;
  /** How many session keys this version still wraps. */
  sessions: number;
}

export async function listKeys(deps: VaultDeps, tenant: string): Promise<TenantKeyInfo[]> {
  const rows = await withTenant(deps.store.db, tenant, 'listing keys', (tx) => listTenantKeys(tx, tenant));
  if (rows.length === 0) throw new InputError('UNKNOWN_TENANT', `unknown tenant ${tenant}`);
  return rows.map((r) => ({ version: r.version, state: r.state, createdAt: isoTime(r.createdAt), masterKeyId: r.masterKeyId, sessions: r.sessions }));
}

/**
 * A new tenant key version becomes primary; the old primary becomes active and keeps
 * unwrapping what it wrapped. One transaction, the tenant's key rows locked, so appends
 * and reads go on throughout: they see either the old primary or the new one.
 */
export async function rotateTenantKey(deps: VaultDeps, tenant: string): Promise<{ version: number; previous: number }> {
  const provider = await deps.provider();
  const signer = await deps.signer();
  let key: SecretBytes | undefined;
  try {
    return await withTenant(deps.store.db, tenant, 'rotating a tenant key', async (tx) => {
      const keys = await listTenantKeys(tx, tenant, true);
      const primary = keys.find((k) => k.state === 'primary');
      if (!primary) throw new InputError('UNKNOWN_TENANT', `unknown tenant ${tenant}`);
      const version = Math.max(...keys.map((k) => k.version)) + 1;
      const made = await newTenantKey(provider, { tenant, version });
      key = made.key;
      const signed = signedWrap(signer, tenantKeySubject({ tenant, version, masterKeyId: made.masterKeyId }), 1, made.wrapped);
      await setTenantKeyState(tx, tenant, primary.version, 'active');
      await insertTenantKey(tx, { tenant, version, masterKeyId: made.masterKeyId, wrappedKey: made.wrapped, state: 'primary', createdAt: deps.clock(), ...signed });
      deps.logger.info({ op: 'keys.rotate', tenant, version, previous: primary.version }, 'tenant key rotated');
      return { version, previous: primary.version };
    });
  } finally {
    key?.dispose();
  }
}

/**
 * Rewraps every session key of the tenant not yet under the primary version, one
 * session a transaction. Event ciphertexts and the chain are not touched (the data key
 * itself does not change). Killed at any point and rerun, it finishes: each session is
 * either still under its old version or already under the new one. A session under legal
 * hold keeps its key as it is (the database refuses changing it: drizzle/0043), so it is
 * left under its version, which cannot be destroyed while the hold stands, and counted
 * as `held`; a run after the hold is lifted moves it.
 */
export async function rewrapTenant(
  deps: VaultDeps,
  tenant: string,
  onProgress?: (done: number, total: number) => void,
): Promise<{ rewrapped: number; held: number; primary: number }> {
  const keys = await listKeys(deps, tenant);
  const signer = await deps.signer();
  const primary = keys.find((k) => k.state === 'primary')!.version;
  const total = keys.filter((k) => k.version !== primary).reduce((n, k) => n + k.sessions, 0);
  let done = 0;
  let held = 0;
  let after: string | null = null;
  for (;;) {
    const page: SessionRow[] = await withTenant(deps.store.db, tenant, 'listing sessions', (tx) => listSessions(tx, tenant, after, 500));
    for (const s of page) {
      if (s.tenantKeyVersion === primary || !s.wrappedDataKey) continue;
      const moved = await withTenant(deps.store.db, tenant, 'rewrapping a session key', async (tx) => {
        const locked = await readSession(tx, tenant, s.session, true); // locked: a hold placed meanwhile waits for this transaction, or is seen
        // Used as read under the lock: rewrapped meanwhile (another run), shredded, or gone, it is left.
        if (!locked?.wrappedDataKey || locked.tenantKeyVersion !== s.tenantKeyVersion) return false;
        if ((await readHolds(tx, tenant, s.session)).length > 0) return 'held' as const;
        const to = await deps.keys.tenantKey(tx, tenant, primary);
        // Opened as any read opens it: a wrap written outside the vault is not signed over (WRAP_UNSIGNED).
        const dataKey = await deps.keys.dataKey(tx, locked);
        try {
          const wrapped = wrapKey(to, dataKey, dataKeyAad(tenant, s.session, locked.dataKeyVersion, primary));
          const signed = signedWrap(signer, sessionSubject({ ...locked, tenantKeyVersion: primary }), nextWrapSeq(locked), wrapped);
          return rewrapSessionKey(tx, tenant, s.session, s.tenantKeyVersion, primary, wrapped, signed);
        } finally {
          dataKey.dispose();
        }
      });
      if (moved === 'held') {
        held++;
        onProgress?.(done + held, total); // counted in the total, so a progress bar still reaches its end
        continue;
      }
      if (moved) {
        deps.logger.debug({ op: 'keys.rewrap.session', tenant, session: s.session, to: primary }, 'session key rewrapped');
        done++; // not inside onProgress?.(…): optional chaining would skip it without a callback
        onProgress?.(done + held, total);
      }
    }
    if (page.length < 500) break;
    after = page[page.length - 1]!.session;
  }
  deps.cache.clear();
  deps.logger.info({ op: 'keys.rewrap', tenant, rewrapped: done, held, primary }, 'session keys rewrapped');
  return { rewrapped: done, held, primary };
}

/** Retires an active version that no session key depends on any more. */
export async function retireTenantKey(deps: VaultDeps, tenant: string, version: number): Promise<void> {
  await withTenant(deps.store.db, tenant, 'retiring a tenant key', async (tx) => {
    const key = (await listTenantKeys(tx, tenant, true)).find((k) => k.version === version);
    if (!key) throw new InputError('KEY_STATE', `tenant ${tenant} has no key version ${version}`);
    assertCanRetire(version, key.state, key.sessions);
    await setTenantKeyState(tx, tenant, version, 'retired');
  });
}

/** Destroys a retired version: its wrapped key is deleted, irrecoverably. */
export async function destroyTenantKey(deps: VaultDeps, tenant: string, version: number): Promise<void> {
  await withTenant(deps.store.db, tenant, 'destroying a tenant key', async (tx) => {
    const key = (await listTenantKeys(tx, tenant, true)).find((k) => k.version === version);
    if (!key) throw new InputError('KEY_STATE', `tenant ${tenant} has no key version ${version}`);
    assertCanDestroy(version, key.state);
    await setTenantKeyState(tx, tenant, version, 'destroyed');
  });
  deps.keys.forget(tenant, version);
}
