export {
  readKeyringFile,
  readKeyringDocument,
  createKeyringFile,
  replaceKeyringFile,
  updateKeyringFile,
  withNewSigningKey,
  signingPeriods,
  withNewMasterKey,
  withoutMasterKeys,
  withoutAnyMasterKey,
  newKeyringFile,
  keyringFileSchema,
  KEYRING_FORMAT,
} from './keyring-file';
export type { KeyringData, KeyringFile } from './keyring-file';
export type { KeyProvider, TenantKeyRef } from './provider';
export { newTenantKey } from './provider';
export { chainKeyProviders } from './chain';
export { guardKeyProvider } from './guard';
export { KmsKeyProvider, type KmsKeyProviderOptions, type KmsSettings } from './kms-provider';
export { Pkcs11KeyProvider, type Pkcs11KeyProviderOptions } from './pkcs11-provider';
export { Pkcs11Signer, type Pkcs11SignerOptions } from './pkcs11-signer';
export { LocalKeyProvider } from './local-provider';
export { wrapKey, unwrapKey, tenantKeyAad, dataKeyAad, TENANT_KEY_TAG, DATA_KEY_TAG } from './wrap';
export { assertCanRetire, assertCanDestroy, assertCanBecomePrimary } from './lifecycle';
export type { TenantKeyState } from './lifecycle';
export { EnvKeyProvider } from './env-provider';
