import { KeyError, InputError } from '../errors';
import { SecretBytes, generateKey } from '../crypto';
import { dataKeyAad, unwrapKey, wrapKey, type KeyProvider } from '../keys';
import { readTenantKey, type TenantKeyRow, type TenantTx, type WrapColumns } from '../store';
import { sessionSubject, tenantKeySubject } from './key-wraps';
import type { WrapCheck } from './trusted-wrap';

/** Every session's data key is version 1 today; the column and the AAD leave room for rotation. */
export const DATA_KEY_VERSION = 1;

/**
 * Unwraps tenant keys (through the KeyProvider) and session data keys (with the tenant
 * key), caching the unwrapped tenant keys for the life of the vault. All key material
 * stays in SecretBytes and is zeroed on close(). Each stored wrap passes `checkWrap`
 * before it is opened (trusted-wrap.ts: WRAP_UNSIGNED for one written outside the vault).
 */
export class KeyAccess {
  private readonly tenantKeys = new Map<string, SecretBytes>();

  constructor(
    private readonly provider: () => Promise<KeyProvider>,
    private readonly checkWrap: WrapCheck,
  ) {}

  /** A tenant key version, unwrapped. KEY_DESTROYED if destroyed, KEY_NOT_FOUND if absent. */
  async tenantKey(tx: TenantTx, tenant: string, version: number): Promise<SecretBytes> {
    const cacheKey = `${tenant}\u0000${version}`;
    const cached = this.tenantKeys.get(cacheKey);
    if (cached) return cached;
    const row = await readTenantKey(tx, tenant, version);
    if (!row) throw new KeyError('KEY_NOT_FOUND', `tenant ${tenant} has no key version ${version}`);
    await this.checkTenantKeyWrap(tx, row);
    const key = await this.unwrapTenantKey(row);
    this.tenantKeys.set(cacheKey, key);
    return key;
  }

  /** The tenant's primary key version and key. UNKNOWN_TENANT when the tenant has none. */
  async primaryTenantKey(tx: TenantTx, tenant: string): Promise<{ version: number; key: SecretBytes }> {
    const row = await readTenantKey(tx, tenant, 'primary');
    if (!row) {
      // Version 1 exists for every tenant ever created: without a primary, its keys were shredded.
      if (await readTenantKey(tx, tenant, 1)) throw new KeyError('KEY_DESTROYED', `the keys of tenant ${tenant} have been destroyed`);
      throw new InputError('UNKNOWN_TENANT', `unknown tenant ${tenant} (create it with \`session-vault tenant create ${tenant}\`)`);
    }
    return { version: row.version, key: await this.tenantKey(tx, tenant, row.version) };
  }

  /** A fresh data key for a new session, and its wrapping under the tenant's primary key. */
  async newDataKey(
    tx: TenantTx,
    tenant: string,
    session: string,
  ): Promise<{ dataKey: SecretBytes; wrapped: Uint8Array; tenantKeyVersion: number }> {
    const primary = await this.primaryTenantKey(tx, tenant);
    const dataKey = generateKey();
    const wrapped = wrapKey(primary.key, dataKey, dataKeyAad(tenant, session, DATA_KEY_VERSION, primary.version));
    return { dataKey, wrapped, tenantKeyVersion: primary.version };
  }

  /** Unwraps a session's data key. KEY_DESTROYED when it has been shredded. */
  async dataKey(
    tx: TenantTx,
    s: { tenant: string; session: string; dataKeyVersion: number; tenantKeyVersion: number; wrappedDataKey: Uint8Array | null } & WrapColumns,
  ): Promise<SecretBytes> {
    if (!s.wrappedDataKey) throw new KeyError('KEY_DESTROYED', `the key of session ${s.tenant}/${s.session} has been destroyed`);
    await this.checkWrap(tx, sessionSubject(s), s.wrappedDataKey, s);
    const tenantKey = await this.tenantKey(tx, s.tenant, s.tenantKeyVersion);
    return unwrapKey(tenantKey, s.wrappedDataKey, dataKeyAad(s.tenant, s.session, s.dataKeyVersion, s.tenantKeyVersion));
  }

  /** WRAP_UNSIGNED for a tenant key version's wrap written outside the vault (trusted-wrap.ts): before it is opened, or wrapped anew by a master rotation. */
  async checkTenantKeyWrap(tx: TenantTx, row: Pick<TenantKeyRow, 'tenant' | 'version' | 'masterKeyId' | 'wrappedKey'> & WrapColumns): Promise<void> {
    if (row.wrappedKey) await this.checkWrap(tx, tenantKeySubject(row), row.wrappedKey, row);
  }

  /** A stored tenant key version unwrapped afresh, past the cache, for the caller to dispose (`keys check`). */
  unwrapStored(row: TenantKeyRow): Promise<SecretBytes> {
    return this.unwrapTenantKey(row);
  }

  private async unwrapTenantKey(row: TenantKeyRow): Promise<SecretBytes> {
    if (row.state === 'destroyed' || !row.wrappedKey) {
      throw new KeyError('KEY_DESTROYED', `tenant ${row.tenant} key version ${row.version} has been destroyed`);
    }
    const provider = await this.provider();
    return provider.unwrapTenantKey({ tenant: row.tenant, version: row.version }, row.masterKeyId, row.wrappedKey);
  }

  /** Drops and zeroes a cached tenant key version (after it is destroyed). */
  forget(tenant: string, version: number): void {
    const cacheKey = `${tenant}\u0000${version}`;
    this.tenantKeys.get(cacheKey)?.dispose();
    this.tenantKeys.delete(cacheKey);
  }

  /** Drops and zeroes every cached key version of a tenant (after its keys are shredded). */
  forgetTenant(tenant: string): void {
    for (const [k, v] of this.tenantKeys) {
      if (k.startsWith(`${tenant}\u0000`)) {
        v.dispose();
        this.tenantKeys.delete(k);
      }
    }
  }

  /** Zeroes every cached key. */
  dispose(): void {
    for (const k of this.tenantKeys.values()) k.dispose();
    this.tenantKeys.clear();
  }
}
