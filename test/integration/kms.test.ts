import { backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { startFakeKms, type FakeKms } from '../support/fake-kms';
import { asOwner } from '../support/owner';
import { openVault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { KmsKeyProvider } from '../../src/keys';

/**
 * Tenant keys under AWS KMS, through the real @aws-sdk/client-kms pointed at a loopback
 * stand-in that speaks the KMS JSON protocol and authenticates the encryption context.
 * The attack: a DBA moves one tenant's wrapped key into another tenant's row.
 */
afterAll(dropCreatedDatabases);

const quiet = createLogger({ level: 'silent' });
let kms: FakeKms;
beforeAll(async () => {
  kms = await startFakeKms(['alias/session-vault']);
});
afterAll(() => kms.close());

const provider = () =>
  new KmsKeyProvider({ keyId: 'alias/session-vault', client: { endpoint: kms.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test-secret' } } });

describe.each(backends())('the KMS key provider on $name', (backend) => {
  it('makes tenant keys with GenerateDataKey, unwraps them with Decrypt under the tenant and version as encryption context', async () => {
    const h = await tempHome();
    const database = backend.name === 'pglite' ? undefined : await backend.database(); // a folder: reopened below
    const vault = await openVault({ home: h.home, database, keyProvider: provider(), logger: quiet });
    try {
      kms.calls.length = 0;
      await vault.createTenant('bank');
      await vault.session('bank', 's1').append({ type: 'message', role: 'user', content: 'balance?' });
      await vault.operator({ actor: 'ops' }).rotateKey('bank');
      await vault.session('bank', 's2').append({ type: 'message', role: 'user', content: 'after rotation' });
      expect(kms.calls.filter((c) => c.op === 'GenerateDataKey').map((c) => c.context)).toEqual([
        { 'session-vault': 'tenant-key/v1', tenant: 'bank', version: '1' },
        { 'session-vault': 'tenant-key/v1', tenant: 'bank', version: '2' },
      ]);
      expect((await vault.keys('bank')).map((k) => k.masterKeyId)).toEqual(['kms:alias/session-vault', 'kms:alias/session-vault']);
    } finally {
      await vault.close();
    }
    // Another process's view: nothing cached, every key from KMS again.
    kms.calls.length = 0;
    const again = await openVault({ home: h.home, database, keyProvider: provider(), logger: quiet, migrate: false });
    try {
      expect((await again.session('bank', 's1').state()).messages[0]!.content).toBe('balance?');
      expect(kms.calls.map((c) => [c.op, c.context.version])).toEqual([['Decrypt', '1']]);
    } finally {
      await again.close();
    }
  }, 120_000);

  it("a wrapped key moved to another tenant's row does not unwrap: KMS refuses the context", async () => {
    const h = await tempHome();
    const database = backend.name === 'pglite' ? undefined : await backend.database();
    const vault = await openVault({ home: h.home, database, keyProvider: provider(), logger: quiet });
    let moved: { wrapped_key: Uint8Array; master_key_id: string };
    try {
      await vault.createTenant('alpha');
      await vault.createTenant('beta');
      await vault.session('beta', 's').append({ type: 'task', task: 'beta work' });
      // The DBA copies alpha's wrapped key over beta's.
      const [, selected] = await asOwner(vault, database ?? 'pglite', [
        { text: `UPDATE tenant_keys SET wrapped_key = (SELECT wrapped_key FROM tenant_keys WHERE tenant_id = 'alpha' AND version = 1) WHERE tenant_id = 'beta' AND version = 1` },
        { text: `SELECT wrapped_key, master_key_id FROM tenant_keys WHERE tenant_id = 'beta' AND version = 1` },
      ]);
      moved = selected![0] as typeof moved;
    } finally {
      await vault.close();
    }
    const fresh = await openVault({ home: h.home, database, keyProvider: provider(), logger: quiet, migrate: false });
    try {
      // The vault does not ask the KMS at all: the wrap's signature is alpha's (drizzle/0051).
      const asked = kms.calls.length;
      await expect(fresh.session('beta', 's').state()).rejects.toMatchObject({ code: 'WRAP_UNSIGNED' });
      expect(kms.calls.length).toBe(asked);
    } finally {
      await fresh.close();
    }
    // Nor would the KMS unwrap it for beta: the context binds the tenant.
    await expect(provider().unwrapTenantKey({ tenant: 'beta', version: 1 }, moved.master_key_id, new Uint8Array(moved.wrapped_key))).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    expect(kms.calls.at(-1)).toMatchObject({ op: 'Decrypt', context: { tenant: 'beta', version: '1' } });
  }, 120_000);
});

it('a KMS key id that is not one is refused when the provider is made', () => {
  expect(() => new KmsKeyProvider({ keyId: 'alias with spaces' })).toThrow(expect.objectContaining({ code: 'KEYRING_INVALID' }));
  expect(() => new KmsKeyProvider({} as never)).toThrow(expect.objectContaining({ code: 'KEYRING_INVALID' }));
});

it('a key KMS does not know is KEY_NOT_FOUND, and nothing is created', async () => {
  const h = await tempHome();
  const unknown = new KmsKeyProvider({ keyId: 'alias/retired', client: { endpoint: kms.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test-secret' } } });
  const vault = await openVault({ home: h.home, database: 'memory://', keyProvider: unknown, logger: quiet });
  try {
    await expect(vault.createTenant('bank')).rejects.toMatchObject({ code: 'KEY_NOT_FOUND', message: expect.stringMatching(/alias\/retired.*NotFoundException/) });
    expect(await vault.tenants()).toEqual([]);
  } finally {
    await vault.close();
  }
});

it('keys rotate-master refuses a provider that names no masterKeyId (what is moved could not be told)', async () => {
  const h = await tempHome();
  const inner = provider();
  const anonymous = { wrapTenantKey: inner.wrapTenantKey.bind(inner), unwrapTenantKey: inner.unwrapTenantKey.bind(inner) };
  const vault = await openVault({ home: h.home, database: 'memory://', keyProvider: anonymous, logger: quiet });
  try {
    await vault.createTenant('bank');
    await expect(vault.operator({ actor: 'custodian' }).rotateMaster()).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
  } finally {
    await vault.close();
  }
});

it('an unreachable KMS is KEY_UNAVAILABLE, naming no key or secret', async () => {
  const h = await tempHome();
  const dead = new KmsKeyProvider({ keyId: 'alias/x', client: { endpoint: 'http://127.0.0.1:9', region: 'eu-west-1', maxAttempts: 1, credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test-secret' } } });
  const vault = await openVault({ home: h.home, database: 'memory://', keyProvider: dead, logger: quiet });
  try {
    const e = await vault.createTenant('bank').catch((x: Error & { code?: string }) => x);
    expect(e).toMatchObject({ code: 'KEY_UNAVAILABLE' });
    expect(String((e as Error).message)).not.toMatch(/test-secret|AKIATEST/);
    expect(await vault.tenants()).toEqual([]);
  } finally {
    await vault.close();
  }
});
