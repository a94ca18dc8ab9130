import * as pkcs11js from 'pkcs11js';
import { backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { asOwner } from '../support/owner';
import { softHsmToken } from '../support/softhsm';
import { tokenSession } from '../support/token-session';
import { openVault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { KmsKeyProvider, Pkcs11KeyProvider, chainKeyProviders } from '../../src/keys';
import { startFakeKms } from '../support/fake-kms';

/**
 * Tenant keys wrapped inside a PKCS#11 token (SoftHSM2): the master key is created in the
 * token as non-extractable and never leaves it. The attacks: someone with the token and
 * its PIN asking for the key's value; a DBA moving a wrapped key to another tenant; a key
 * the token would let out offered as master.
 */
afterAll(dropCreatedDatabases);

const quiet = createLogger({ level: 'silent' });
const hsm = softHsmToken();
const run = hsm ? describe : describe.skip;


run('the PKCS#11 key provider (SoftHSM2)', () => {
  const options = () => ({ module: hsm!.module, token: hsm!.token, pin: hsm!.pin, keyLabel: 'session-vault-master' });

  beforeAll(async () => {
    expect(await Pkcs11KeyProvider.createMasterKey(options())).toBe(true);
    expect(await Pkcs11KeyProvider.createMasterKey(options())).toBe(false); // idempotent: the label exists
  });

  it('the token will not give the master key out, even to a holder of the PIN', () => {
    const { p, session } = tokenSession(hsm!);
    p.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: 'session-vault-master' }]);
    const key = p.C_FindObjects(session)!;
    p.C_FindObjectsFinal(session);
    expect(() => p.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    const attrs = p.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_EXTRACTABLE }, { type: pkcs11js.CKA_SENSITIVE }]);
    expect(attrs.map((a) => Buffer.from(a.value as Buffer)[0])).toEqual([0, 1]);
    p.C_CloseSession(session);
  });

  describe.each(backends())('on $name', (backend) => {
    it('wraps and unwraps tenant keys in the token; a wrapped key moved to another tenant does not unwrap', async () => {
      const h = await tempHome();
      const database = backend.name === 'pglite' ? undefined : await backend.database();
      const provider = await Pkcs11KeyProvider.open(options());
      const vault = await openVault({ home: h.home, database, keyProvider: provider, logger: quiet });
      let moved: Uint8Array;
      try {
        await vault.createTenant('alpha');
        await vault.createTenant('beta');
        await vault.session('alpha', 's').append({ type: 'message', role: 'user', content: 'in the HSM' });
        await vault.session('beta', 's').append({ type: 'task', task: 'beta work' });
        expect((await vault.keys('alpha'))[0]!.masterKeyId).toBe(`pkcs11:${hsm!.token}/session-vault-master`);
        const [, selected] = await asOwner(vault, database ?? 'pglite', [
          { text: `UPDATE tenant_keys SET wrapped_key = (SELECT wrapped_key FROM tenant_keys WHERE tenant_id = 'alpha' AND version = 1) WHERE tenant_id = 'beta' AND version = 1` },
          { text: `SELECT wrapped_key FROM tenant_keys WHERE tenant_id = 'alpha' AND version = 1` },
        ]);
        moved = new Uint8Array((selected![0] as { wrapped_key: Uint8Array }).wrapped_key);
      } finally {
        await vault.close();
        await provider.close();
      }
      const again = await Pkcs11KeyProvider.open(options());
      const reopened = await openVault({ home: h.home, database, keyProvider: again, logger: quiet, migrate: false });
      try {
        expect((await reopened.session('alpha', 's').state()).messages[0]!.content).toBe('in the HSM');
        // The vault does not open it: its signature is alpha's (drizzle/0051). Nor does the token, asked directly.
        await expect(reopened.session('beta', 's').state()).rejects.toMatchObject({ code: 'WRAP_UNSIGNED' });
        await expect(again.unwrapTenantKey({ tenant: 'beta', version: 1 }, again.masterKeyId, moved)).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
      } finally {
        await reopened.close();
        await again.close();
      }
      // A closed provider refuses, naming no key.
      await expect(again.unwrapTenantKey({ tenant: 'alpha', version: 1 }, again.masterKeyId, new Uint8Array(61))).rejects.toMatchObject({ code: 'KEY_UNAVAILABLE' });
    }, 120_000);
  });

  it('keys rotate-master moves tenant keys from the HSM to KMS, the HSM chained behind for unwrapping', async () => {
    const kms = await startFakeKms(['alias/next']);
    const h = await tempHome();
    const kmsProvider = () => new KmsKeyProvider({ keyId: 'alias/next', client: { endpoint: kms.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test-secret' } } });
    const hsmProvider = await Pkcs11KeyProvider.open(options());
    try {
      const inHsm = await openVault({ home: h.home, keyProvider: hsmProvider, logger: quiet });
      for (const t of ['one', 'two']) {
        await inHsm.createTenant(t);
        await inHsm.session(t, 's').append({ type: 'task', task: `${t} in the HSM` });
      }
      // The release key (drizzle/0078), wrapped in the HSM as a tenant key is: it moves with them.
      await inHsm.session('one', 'old').append({ type: 'task', task: 'archived in the HSM' });
      await inHsm.operator({ actor: 'ops', reason: 'quiet' }).archive('one', 'old');
      await inHsm.close();
      const moving = await openVault({ home: h.home, keyProvider: chainKeyProviders(kmsProvider(), hsmProvider), logger: quiet, migrate: false });
      try {
        expect(await moving.operator({ actor: 'custodian', reason: 'HSM to KMS' }).rotateMaster()).toMatchObject({ primary: 'kms:alias/next', rewrapped: 3 });
      } finally {
        await moving.close();
      }
      // Now KMS alone opens everything.
      const kmsOnly = await openVault({ home: h.home, keyProvider: kmsProvider(), logger: quiet, migrate: false });
      try {
        for (const t of ['one', 'two']) expect((await kmsOnly.session(t, 's').state()).currentTask).toBe(`${t} in the HSM`);
        expect((await kmsOnly.keys('two')).map((k) => k.masterKeyId)).toEqual(['kms:alias/next']);
        expect(await kmsOnly.operator({ actor: 'ops', reason: 'quiet' }).archive('two', 's')).toMatchObject({ outcome: 'archived' });
      } finally {
        await kmsOnly.close();
      }
    } finally {
      await hsmProvider.close();
      await kms.close();
      h.cleanup();
    }
  }, 120_000);

  it('refuses an extractable master key, and a wrong PIN, without naming the PIN', async () => {
    const { p, session } = tokenSession(hsm!);
    p.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_LABEL, value: 'leaky' },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: false },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
    ]);
    p.C_CloseSession(session);
    await expect(Pkcs11KeyProvider.open({ ...options(), keyLabel: 'leaky' })).rejects.toMatchObject({ code: 'KEYRING_INSECURE' });
    const wrong = await Pkcs11KeyProvider.open({ ...options(), pin: '999999' }).catch((e: Error & { code?: string }) => e);
    expect(wrong).toMatchObject({ code: 'KEY_UNAVAILABLE' });
    expect((wrong as Error).message).not.toMatch(/999999|246810/);
    await expect(Pkcs11KeyProvider.open({ ...options(), token: 'no-such-token' })).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    await expect(Pkcs11KeyProvider.open({ ...options(), keyLabel: 'never-created' })).rejects.toMatchObject({ code: 'KEY_NOT_FOUND', message: expect.stringMatching(/no master key labelled never-created/) });
  });
});
