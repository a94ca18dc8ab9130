import { sql } from 'drizzle-orm';
import { storeOf, type Vault } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { VaultDeps } from '../../src/vault/deps';
import { dataKeyAad, unwrapKey } from '../../src/keys';
import type { SecretBytes } from '../../src/crypto';

/**
 * A tenant key version, as its holder has it once it leaked: its wrap read with the
 * operator role's credentials, unwrapped by the vault's own key provider, standing in for
 * the leak. The caller disposes of it.
 */
export async function leakedTenantKey(vault: Vault, tenant: string, version: number): Promise<SecretBytes> {
  const [tk] = await read<{ master_key_id: string; w: string }>(vault, tenant, storeOf(vault).layout.operatorRole, `SELECT master_key_id, encode(wrapped_key, 'hex') AS w FROM tenant_keys WHERE version = ${version}`);
  const provider = await (vault as unknown as { deps: VaultDeps }).deps.provider();
  return provider.unwrapTenantKey({ tenant, version }, tk!.master_key_id, Buffer.from(tk!.w, 'hex'));
}

/**
 * A session's data key, as a holder of a leaked version of its tenant key unwraps it: the
 * session's wrap read with the application role's credentials, under leakedTenantKey.
 * The caller disposes of it.
 */
export async function leakedDataKey(vault: Vault, tenant: string, session: string): Promise<SecretBytes> {
  const [s] = await read<{ w: string; v: number }>(vault, tenant, storeOf(vault).layout.appRole, `SELECT encode(wrapped_data_key, 'hex') AS w, tenant_key_version AS v FROM sessions WHERE session_id = '${session}'`);
  const tenantKey = await leakedTenantKey(vault, tenant, s!.v);
  try {
    return unwrapKey(tenantKey, Buffer.from(s!.w, 'hex'), dataKeyAad(tenant, session, 1, s!.v));
  } finally {
    tenantKey.dispose();
  }
}

async function read<T>(vault: Vault, tenant: string, role: string, q: string): Promise<T[]> {
  return ((await withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(q)), role)) as unknown as { rows: T[] }).rows;
}
