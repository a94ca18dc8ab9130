import { sql } from 'drizzle-orm';
import { storeOf, type Vault } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { VaultDeps } from '../../src/vault/deps';
import { dataKeyAad, unwrapKey } from '../../src/keys';
import type { SecretBytes } from '../../src/crypto';

/**
 * A session's data key, as a holder of a leaked version of its tenant key unwraps it: the
 * wraps read with database credentials (the tenant key's with the operator role's), the
 * tenant key version taken from the vault's own key provider, standing in for the leak.
 * The caller disposes of it.
 */
export async function leakedDataKey(vault: Vault, tenant: string, session: string): Promise<SecretBytes> {
  const read = async <T>(role: string, q: string) =>
    ((await withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(q)), role)) as unknown as { rows: T[] }).rows;
  const { appRole, operatorRole } = storeOf(vault).layout;
  const [s] = await read<{ w: string; v: number }>(appRole, `SELECT encode(wrapped_data_key, 'hex') AS w, tenant_key_version AS v FROM sessions WHERE session_id = '${session}'`);
  const [tk] = await read<{ master_key_id: string; w: string }>(operatorRole, `SELECT master_key_id, encode(wrapped_key, 'hex') AS w FROM tenant_keys WHERE version = ${s!.v}`);
  const provider = await (vault as unknown as { deps: VaultDeps }).deps.provider();
  const tenantKey = await provider.unwrapTenantKey({ tenant, version: s!.v }, tk!.master_key_id, Buffer.from(tk!.w, 'hex'));
  try {
    return unwrapKey(tenantKey, Buffer.from(s!.w, 'hex'), dataKeyAad(tenant, session, 1, s!.v));
  } finally {
    tenantKey.dispose();
  }
}
