import { InputError } from '../errors';
import { existsSync } from 'node:fs';
import { updateKeyringFile, withNewMasterKey, withoutAnyMasterKey, withoutMasterKeys } from '../keys';
import { listTenantKeys, listTenants, readReleaseKeyWrap, rewrapTenantKey, withTenant, type TenantKeyRow } from '../store';
import type { VaultDeps } from './deps';
import { nextWrapSeq, signedWrap, tenantKeySubject } from './key-wraps';
import { rewrapReleaseKeyWith } from './release-key';

const LOCAL = 'local:';

/** The keyring master key a wrap's master key id names (`local:<n>`), or null for one outside the keyring (a KMS, an HSM). */
function keyringMaster(masterKeyId: string): number | null {
  return masterKeyId.startsWith(LOCAL) ? Number(masterKeyId.slice(LOCAL.length)) : null;
}

export interface MasterRotation {
  /** The primary master key after the rotation: the keyring's id, or the provider's master key id. */
  primary: number | string;
  /** True when this run created the new master; false when it finished an interrupted rotation. */
  created: boolean;
  rewrapped: number;
  /** Master key ids removed from the keyring because nothing needs them any more. */
  removed: number[];
}

/**
 * Rotates the keyring's master key, resumably:
 * 1. unless an earlier run left another master in the keyring, a new master becomes primary
 *    (the keyring is replaced atomically and the old master kept);
 * 2. every tenant key version is rewrapped under the primary, one a transaction, only if
 *    still wrapped by the master it was read under;
 * 3. masters nothing references any more are removed (a second atomic replacement).
 * Killed at any point, the keyring file is the old one or the new one, never neither,
 * and every stored key is wrapped by a master the keyring holds; running it again
 * finishes the job. Only for the keyring file's master keys (not a KMS provider).
 */
export async function rotateMaster(deps: VaultDeps, keyringPath: string, onProgress?: (done: number, total: number) => void): Promise<MasterRotation> {
  const usage = await masterUsage(deps);
  let created = false;
  // Read and replaced under the keyring's lock: a rotation running at the same moment (or
  // interrupted) has added its master by then, and this one finishes it rather than start another.
  const doc = await updateKeyringFile(keyringPath, (d) => {
    const pending = d.masterKeys.some((m) => m.id !== d.primaryMasterKey) || [...usage.keys()].some((id) => id !== d.primaryMasterKey);
    if (pending) return null;
    created = true;
    return withNewMasterKey(d, deps.clock()).doc;
  });
  const primary = doc.primaryMasterKey!; // withNewMasterKey, or a pending rotation's primary
  const provider = await deps.provider(); // reloads the keyring: it holds old and new masters now
  const signer = await deps.signer();
  const total = [...usage].filter(([id]) => id !== primary).reduce((n, [, c]) => n + c, 0);
  let done = 0;
  for (const { tenant } of await listTenants(deps.store.db)) {
    const keys = await withTenant(deps.store.db, tenant, 'listing keys', (tx) => listTenantKeys(tx, tenant));
    for (const k of keys) {
      if (!k.wrappedKey || k.masterKeyId === `${LOCAL}${primary}`) continue;
      const moved = await withTenant(deps.store.db, tenant, 'rewrapping a tenant key', async (tx) => {
        await deps.keys.checkTenantKeyWrap(tx, k); // one written outside the vault is not signed over
        const key = await provider.unwrapTenantKey({ tenant, version: k.version }, k.masterKeyId, k.wrappedKey!);
        try {
          const to = await provider.wrapTenantKey({ tenant, version: k.version }, key);
          const signed = signedWrap(signer, tenantKeySubject({ tenant, version: k.version, masterKeyId: to.masterKeyId }), nextWrapSeq(k), to.wrapped);
          return rewrapTenantKey(tx, tenant, k.version, k.masterKeyId, { ...to, signed });
        } finally {
          key.dispose();
        }
      });
      if (moved) {
        deps.logger.debug({ op: 'keys.rotate-master.key', tenant, version: k.version, to: primary }, 'tenant key rewrapped');
        done++;
        onProgress?.(done, total);
      }
    }
  }
  // The release key (drizzle/0078) is wrapped as a tenant key is, and moves with them.
  if (await rewrapReleaseKeyWith(deps.store, provider, (id) => id === `${LOCAL}${primary}`)) {
    deps.logger.debug({ op: 'keys.rotate-master.release-key', to: primary }, 'release key rewrapped');
    done++;
    onProgress?.(done, total);
  }
  const stillUsed = await masterUsage(deps);
  // The keyring as it is now, not as read at the start: another command may have changed it since (a signing key rotated).
  let removable = new Set<number>();
  await updateKeyringFile(keyringPath, (d) => {
    removable = new Set(d.masterKeys.map((m) => m.id).filter((id) => id !== primary && !stillUsed.has(id)));
    return removable.size > 0 ? withoutMasterKeys(d, removable) : null;
  });
  deps.logger.info({ op: 'keys.rotate-master', primary, rewrapped: done, removed: [...removable] }, 'master key rotated');
  return { primary, created, rewrapped: done, removed: [...removable] };
}

/** How many tenant key versions (and the release key) each keyring master key wraps. */
async function masterUsage(deps: VaultDeps): Promise<Map<number, number>> {
  const usage = new Map<number, number>();
  const release = await readReleaseKeyWrap(deps.store.db);
  if (release) {
    const id = keyringMaster(release.masterKeyId);
    if (id === null) throw new InputError('KEY_STATE', `the release key is wrapped by ${release.masterKeyId}, not by the keyring: rotate it in its KMS`);
    usage.set(id, 1);
  }
  for (const { tenant } of await listTenants(deps.store.db)) {
    for (const k of await withTenant(deps.store.db, tenant, 'listing keys', (tx) => listTenantKeys(tx, tenant))) {
      if (!k.wrappedKey) continue;
      const id = keyringMaster(k.masterKeyId);
      if (id === null) throw new InputError('KEY_STATE', `tenant ${tenant} key v${k.version} is wrapped by ${k.masterKeyId}, not by the keyring: rotate it in its KMS`);
      usage.set(id, (usage.get(id) ?? 0) + 1);
    }
  }
  return usage;
}

/**
 * Moves every tenant key under the vault's own provider (an HSM, a KMS: `openVault({
 * keyProvider })`), from wherever it is wrapped now (the keyring file's master keys, or
 * another provider chained behind it), resumably: each key is unwrapped by the provider
 * holding its master key, wrapped by the target and stored in one transaction, only if
 * still wrapped as it was read. Killed at any point, every key is wrapped by one master or
 * the other, both reachable; running it again moves the rest. Then the keyring file's
 * master keys that nothing uses any more are removed from it, so after a move off the
 * file it holds no master key.
 */
export async function moveToProvider(deps: VaultDeps, keyringPath: string, onProgress?: (done: number, total: number) => void): Promise<MasterRotation> {
  const provider = await deps.provider();
  const target = provider.masterKeyId;
  if (!target) throw new InputError('INVALID_CONFIG', 'the key provider names no masterKeyId, so what is already moved cannot be told');
  const signer = await deps.signer();
  const pending: (TenantKeyRow & { wrapped: Uint8Array })[] = [];
  for (const { tenant } of await listTenants(deps.store.db)) {
    for (const k of await withTenant(deps.store.db, tenant, 'listing keys', (tx) => listTenantKeys(tx, tenant))) {
      if (k.wrappedKey && k.masterKeyId !== target) pending.push({ ...k, wrapped: k.wrappedKey });
    }
  }
  let done = 0;
  for (const k of pending) {
    const moved = await withTenant(deps.store.db, k.tenant, 'moving a tenant key', async (tx) => {
      await deps.keys.checkTenantKeyWrap(tx, k); // one written outside the vault is not signed over
      const key = await provider.unwrapTenantKey({ tenant: k.tenant, version: k.version }, k.masterKeyId, k.wrapped);
      try {
        const to = await provider.wrapTenantKey({ tenant: k.tenant, version: k.version }, key);
        const signed = signedWrap(signer, tenantKeySubject({ ...k, masterKeyId: to.masterKeyId }), nextWrapSeq(k), to.wrapped);
        return rewrapTenantKey(tx, k.tenant, k.version, k.masterKeyId, { ...to, signed });
      } finally {
        key.dispose();
      }
    });
    if (moved) {
      done++;
      deps.logger.debug({ op: 'keys.rotate-master.key', tenant: k.tenant, version: k.version, to: target }, 'tenant key moved');
      onProgress?.(done, pending.length);
    }
  }
  if (await rewrapReleaseKeyWith(deps.store, provider, (id) => id === target)) {
    done++;
    deps.logger.debug({ op: 'keys.rotate-master.release-key', to: target }, 'release key moved');
  }
  const removed: number[] = [];
  if (existsSync(keyringPath)) {
    const stillUsed = new Set<number>();
    const release = await readReleaseKeyWrap(deps.store.db);
    const releaseMaster = release ? keyringMaster(release.masterKeyId) : null;
    if (releaseMaster !== null) stillUsed.add(releaseMaster);
    for (const { tenant } of await listTenants(deps.store.db)) {
      for (const k of await withTenant(deps.store.db, tenant, 'listing keys', (tx) => listTenantKeys(tx, tenant))) {
        const id = k.wrappedKey ? keyringMaster(k.masterKeyId) : null;
        if (id !== null) stillUsed.add(id);
      }
    }
    await updateKeyringFile(keyringPath, (doc) => {
      const unused = doc.masterKeys.map((m) => m.id).filter((id) => !stillUsed.has(id));
      if (unused.length === 0) return null;
      const all = unused.length === doc.masterKeys.length;
      removed.push(...(all ? unused : unused.filter((id) => id !== doc.primaryMasterKey)));
      return all ? withoutAnyMasterKey(doc) : withoutMasterKeys(doc, new Set(unused));
    });
  }
  deps.logger.info({ op: 'keys.rotate-master', primary: target, moved: done, removed }, 'tenant keys moved to the key provider');
  return { primary: target, created: false, rewrapped: done, removed };
}
