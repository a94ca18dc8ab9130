import { resolveConfig } from '../../src/cli/config';
import { openKeys } from '../../src/cli/keys-config';

/** Which master key custody the CLI's settings name, and the refusals of settings that do not add up. */
describe('key custody settings', () => {
  const keysOf = (env: Record<string, string>) => resolveConfig({}, env).keys;

  it('takes the named provider, else the one whose settings are given, else the keyring file', () => {
    expect(keysOf({}).provider).toBe('keyring');
    expect(keysOf({ VAULT_MASTER_KEY: 'x' }).provider).toBe('env');
    expect(keysOf({ VAULT_PKCS11_MODULE: '/lib.so', VAULT_PKCS11_TOKEN: 't', VAULT_PKCS11_PIN: '1' })).toMatchObject({ provider: 'pkcs11', pkcs11: { keyLabel: 'session-vault-master' } });
    expect(keysOf({ VAULT_KMS_KEY_ID: 'alias/k', AWS_REGION: 'eu-west-1' })).toMatchObject({ provider: 'kms', kms: { keyId: 'alias/k', region: 'eu-west-1' } });
    expect(keysOf({ VAULT_KEY_PROVIDER: 'kms', VAULT_KMS_KEY_ID: 'alias/k', VAULT_MASTER_KEY: 'x' }).provider).toBe('kms');
  });

  it('refuses an unknown provider, PKCS#11 without token or PIN, and a named provider without its settings', async () => {
    expect(() => keysOf({ VAULT_KEY_PROVIDER: 'vault-transit' })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    expect(() => keysOf({ VAULT_PKCS11_MODULE: '/lib.so' })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(/VAULT_PKCS11_TOKEN and VAULT_PKCS11_PIN/) }));
    await expect(openKeys(resolveConfig({}, { VAULT_KEY_PROVIDER: 'kms' }))).rejects.toMatchObject({ code: 'KEYRING_INVALID', message: expect.stringMatching(/VAULT_KEY_PROVIDER=kms but its settings are missing/) });
    // A signing key in the token needs the token's settings, and is one signing key too many beside VAULT_SIGNING_KEY.
    const token = { VAULT_PKCS11_MODULE: '/lib.so', VAULT_PKCS11_TOKEN: 't', VAULT_PKCS11_PIN: '1' };
    expect(keysOf({ ...token, VAULT_PKCS11_SIGNING_KEY: 'sig' })).toMatchObject({ provider: 'pkcs11', pkcs11Signing: { module: '/lib.so', token: 't', keyLabel: 'sig' } });
    expect(() => keysOf({ VAULT_PKCS11_SIGNING_KEY: 'sig' })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringMatching(/needs VAULT_PKCS11_MODULE/) }));
    expect(() => keysOf({ ...token, VAULT_PKCS11_SIGNING_KEY: 'sig', VAULT_SIGNING_KEY: 'c2hvcnQ=' })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.not.stringContaining('c2hvcnQ') }));
    await expect(openKeys(resolveConfig({}, { VAULT_SIGNING_KEY: 'c2hvcnQ=' }))).rejects.toMatchObject({ code: 'KEYRING_INVALID', message: expect.not.stringContaining('c2hvcnQ') });
  });

  it('a PKCS#11 library that does not load is KEY_UNAVAILABLE', async () => {
    const config = resolveConfig({}, { VAULT_PKCS11_MODULE: '/nonexistent/libpkcs11.so', VAULT_PKCS11_TOKEN: 't', VAULT_PKCS11_PIN: '1234' });
    await expect(openKeys(config)).rejects.toMatchObject({ code: 'KEY_UNAVAILABLE', message: expect.not.stringContaining('1234') });
  });
});
