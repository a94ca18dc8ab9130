import { randomBytes } from 'node:crypto';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { ensureSodium, generateSigningKeyPair, signingKeyId, type SecretBytes } from '../../src/crypto';
import { EnvKeyProvider, type KeyProvider, type TenantKeyRef } from '../../src/keys';

/**
 * A key provider of the caller's own (an HSM or KMS client) that fails with errors of its
 * SDK's making, not KeyError: the vault reports them as key errors (KEY_UNAVAILABLE, exit
 * code 3), never as the database's, never with the SDK's words, and writes nothing.
 */
afterAll(dropCreatedDatabases);
beforeAll(ensureSodium);

/** An SDK's error: a code of its own and a message that may carry anything it was given. */
const sdkError = () => Object.assign(new Error('HSM said: session handle 0x1f, key label acme-master, PIN 123456'), { name: 'HsmFault', code: 'CKR_DEVICE_ERROR' });

class FlakyProvider implements KeyProvider {
  private readonly inner = EnvKeyProvider.fromBase64(randomBytes(32).toString('base64'));
  failing = false;

  wrapTenantKey(ref: TenantKeyRef, key: SecretBytes) {
    if (this.failing) return Promise.reject(sdkError());
    return this.inner.wrapTenantKey(ref, key);
  }

  unwrapTenantKey(ref: TenantKeyRef, masterKeyId: string, wrapped: Uint8Array) {
    if (this.failing) return Promise.reject(sdkError());
    return this.inner.unwrapTenantKey(ref, masterKeyId, wrapped);
  }
}

describe.each(backends())('a key provider that fails with its own errors, on $name', (backend) => {
  it('is reported as KEY_UNAVAILABLE naming what failed, without its words, and nothing is written', async () => {
    const provider = new FlakyProvider();
    const kp = generateSigningKeyPair();
    const t = await testVault(backend, { keyProvider: provider, signer: { id: signingKeyId(kp.publicKey), ...kp } });
    try {
      await t.vault.createTenant('acme');
      provider.failing = true;
      const refused = { name: 'KeyError', code: 'KEY_UNAVAILABLE', category: 'key', message: 'the key provider failed unwrapping key version 1 of tenant acme (CKR_DEVICE_ERROR)' };
      const append = await t.vault.session('acme', 's').append({ type: 'task', task: 'x' }).catch((e: unknown) => e);
      expect(append).toMatchObject(refused);
      expect(JSON.stringify(append)).not.toMatch(/HSM said|PIN|0x1f/);
      await expect(t.vault.createTenant('beta')).rejects.toMatchObject({ code: 'KEY_UNAVAILABLE', message: 'the key provider failed wrapping key version 1 of tenant beta (CKR_DEVICE_ERROR)' });

      provider.failing = false;
      expect(await t.vault.sessions('acme')).toEqual([]); // the refused append left no session behind
      expect((await t.vault.tenants()).map((x) => x.tenant)).not.toContain('beta');
      await t.vault.session('acme', 's').append({ type: 'task', task: 'x' });
      expect((await t.vault.session('acme', 's').state()).lastSeq).toBe(1);
    } finally {
      await t.close();
    }
  });

  it('reports a provider that makes its own keys and fails with an error of no code by its class name', async () => {
    // A bug in the caller's provider: a TypeError whose message quotes what it was handed.
    const provider = Object.assign(new FlakyProvider(), {
      generateTenantKey: () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'secret-handle-77')")),
    });
    const kp = generateSigningKeyPair();
    const t = await testVault(backend, { keyProvider: provider, signer: { id: signingKeyId(kp.publicKey), ...kp } });
    try {
      const made = await t.vault.createTenant('gamma').catch((e: unknown) => e);
      expect(made).toMatchObject({ code: 'KEY_UNAVAILABLE', category: 'key', message: 'the key provider failed making key version 1 of tenant gamma (TypeError)' });
      expect(JSON.stringify(made)).not.toContain('secret-handle-77');
      expect(await t.vault.tenants()).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
