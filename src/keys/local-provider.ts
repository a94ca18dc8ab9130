import { KeyError } from '../errors';
import { SecretBytes } from '../crypto';
import type { KeyringData } from './keyring-file';
import type { KeyProvider, TenantKeyRef } from './provider';
import { tenantKeyAad, unwrapKey, wrapKey } from './wrap';

/** Master key ids of the keyring file are written `local:<n>` in the database. */
const LOCAL_PREFIX = 'local:';

/** Wraps tenant keys under the keyring file's master keys; new wraps use the primary. */
export class LocalKeyProvider implements KeyProvider {
  constructor(private readonly keyring: KeyringData) {}

  /** The id new wraps get: the keyring's primary master key. */
  get masterKeyId(): string | undefined {
    return this.keyring.primaryMasterKey === null ? undefined : `${LOCAL_PREFIX}${this.keyring.primaryMasterKey}`;
  }

  async wrapTenantKey(ref: TenantKeyRef, key: SecretBytes): Promise<{ masterKeyId: string; wrapped: Uint8Array }> {
    const id = this.keyring.primaryMasterKey;
    if (id === null) throw new KeyError('KEY_NOT_FOUND', 'the keyring file holds no master key: tenant keys are under a key provider (openVault keyProvider, VAULT_KEY_PROVIDER)');
    const masterKeyId = `${LOCAL_PREFIX}${id}`;
    const master = this.master(id);
    return { masterKeyId, wrapped: wrapKey(master, key, tenantKeyAad(ref.tenant, ref.version, masterKeyId)) };
  }

  async unwrapTenantKey(ref: TenantKeyRef, masterKeyId: string, wrapped: Uint8Array): Promise<SecretBytes> {
    if (!masterKeyId.startsWith(LOCAL_PREFIX)) {
      throw new KeyError('KEY_NOT_FOUND', `tenant ${ref.tenant} key v${ref.version} is wrapped by ${masterKeyId}, not by this keyring`);
    }
    const id = Number(masterKeyId.slice(LOCAL_PREFIX.length));
    return unwrapKey(this.master(id), wrapped, tenantKeyAad(ref.tenant, ref.version, masterKeyId));
  }

  private master(id: number): SecretBytes {
    const entry = this.keyring.masterKeys.get(id);
    if (!entry) throw new KeyError('KEY_NOT_FOUND', `master key ${id} is not in the keyring`);
    return entry.key;
  }
}
