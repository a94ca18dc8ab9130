import { InputError } from '../errors';
import { readKeyringDocument, replaceKeyringFile, withNewMasterKey, withoutMasterKeys } from '../keys';
import { listTenantKeys, listTenants, rewrapTenantKey, withTenant } from '../store';
import type { VaultDeps } from './deps';

const LOCAL = 'local:';

export interface MasterRotation {
  /** The primary master key id after the rotation. */
  primary: number;
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
  let doc = await readKeyringDocument(keyringPath);
  // Any master besides the primary means an earlier run was interrupted: finish it rather
  // than start another rotation.
  const pending = doc.masterKeys.some((m) => m.id !== doc.primaryMasterKey) || [...usage.keys()].some((id) => id !== doc.primaryMasterKey);
  let created = false;
  if (!pending) {
    doc = withNewMasterKey(doc, deps.clock()).doc;
    await replaceKeyringFile(keyringPath, doc);
    created = true;
  }
  const primary = doc.primaryMasterKey;
  const provider = await deps.provider(); // reloads the keyring: it holds old and new masters now
  const total = [...usage].filter(([id]) => id !== primary).reduce((n, [, c]) => n + c, 0);
  let done = 0;
  for (const { tenant } of await listTenants(deps.store.db)) {
    const keys = await withTenant(deps.store.db, tenant, 'listing keys', (tx) => listTenantKeys(tx, tenant));
    for (const k of keys) {
      if (!k.wrappedKey || k.masterKeyId === `${LOCAL}${primary}`) continue;
      const moved = await withTenant(deps.store.db, tenant, 'rewrapping a tenant key', async (tx) => {
        const key = await provider.unwrapTenantKey({ tenant, version: k.version }, k.masterKeyId, k.wrappedKey!);
        try {
          const to = await provider.wrapTenantKey({ tenant, version: k.version }, key);
          return rewrapTenantKey(tx, tenant, k.version, k.masterKeyId, to);
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
  const stillUsed = await masterUsage(deps);
  const removable = new Set(doc.masterKeys.map((m) => m.id).filter((id) => id !== primary && !stillUsed.has(id)));
  if (removable.size > 0) await replaceKeyringFile(keyringPath, withoutMasterKeys(doc, removable));
  deps.logger.info({ op: 'keys.rotate-master', primary, rewrapped: done, removed: [...removable] }, 'master key rotated');
  return { primary, created, rewrapped: done, removed: [...removable] };
}

/** How many tenant key versions each keyring master key wraps. */
async function masterUsage(deps: VaultDeps): Promise<Map<number, number>> {
  const usage = new Map<number, number>();
  for (const { tenant } of await listTenants(deps.store.db)) {
    for (const k of await withTenant(deps.store.db, tenant, 'listing keys', (tx) => listTenantKeys(tx, tenant))) {
      if (!k.wrappedKey) continue;
      if (!k.masterKeyId.startsWith(LOCAL)) throw new InputError('KEY_STATE', `tenant ${tenant} key v${k.version} is wrapped by ${k.masterKeyId}, not by the keyring: rotate it in its KMS`);
      const id = Number(k.masterKeyId.slice(LOCAL.length));
      usage.set(id, (usage.get(id) ?? 0) + 1);
    }
  }
  return usage;
}
