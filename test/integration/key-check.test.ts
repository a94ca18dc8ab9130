import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { openVault, type VaultOptions } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault } from '../../src/vault';
import { runCli } from '../support/cli';

/**
 * `keys check` against keys destroyed without a shred, by performing the attacks as the
 * operator role (its database credentials stolen, no keyring), which may write wrapped
 * keys because a rewrap must: other bytes over a session's wrapped key, a session key
 * re-bound to another tenant key version, other bytes over a tenant key version. Each
 * destroys what it wrapped with no shred marker, and `verify`, which holds no key, cannot
 * tell it from a rewrap (shown below: it stays clean); the key holder's check names each.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())('keys check, on $name', (backend) => {
  let vault: Vault;
  let url: string | undefined;
  let home: string;
  let cleanup: () => void;
  const asOperatorRole = (tenant: string, q: string) => withTenant(storeOf(vault).db, tenant, 'attack', (tx) => tx.execute(sql.raw(q)));
  const check = (tenant?: string) => vault.operator({ actor: 'custodian', reason: 'quarterly key check' }).checkKeys(tenant);

  beforeAll(async () => {
    const h = await tempHome();
    [home, cleanup] = [h.home, h.cleanup];
    url = backend.name === 'pglite' ? undefined : await backend.database(); // the embedded store in the home folder, for the CLI too
    vault = await openVault({ home, database: url, logger: createLogger({ level: 'silent' }) });
    for (const t of ['bank', 'insurer']) {
      await vault.createTenant(t);
      for (const s of ['a', 'b', 'c']) await vault.session(t, s).append({ type: 'message', role: 'user', content: `${t} ${s}` });
    }
    const op = vault.operator({ actor: 'sec', reason: 'rotation' });
    await op.rotateKey('bank');
    await vault.session('bank', 'd').append({ type: 'task', task: 'under version 2' });
    await op.shred('insurer', 'c');
  }, 120_000);
  let closed = false;
  const closeOnce = async () => {
    if (!closed) await vault.close();
    closed = true;
  };
  afterAll(async () => {
    await closeOnce();
    cleanup?.();
  });
  /** Another vault on the same store (the first is closed by the CLI test), closed after `use`. */
  const withOpened = async <T>(extra: Partial<VaultOptions>, use: (v: Vault) => Promise<T>): Promise<T> => {
    const v = await openVault({ home, database: url, logger: createLogger({ level: 'silent' }), ...extra });
    try {
      return await use(v);
    } finally {
      await v.close();
    }
  };

  it('every key of a sound vault opens: tenant keys through the provider, session keys with them; shredded ones are not counted; the check is in the trail', async () => {
    // Both tenants were created by a vault that signs: they take signed key wraps only (drizzle/0051).
    expect(await check()).toEqual({ ok: true, tenants: 2, tenantKeys: 3, sessionKeys: 6, unsigned: 0, signed: 0, signedOnly: 2, problems: [] });
    expect(await check('insurer')).toEqual({ ok: true, tenants: 1, tenantKeys: 1, sessionKeys: 2, unsigned: 0, signed: 0, signedOnly: 1, problems: [] });
    await expect(check('nobody')).rejects.toMatchObject({ code: 'UNKNOWN_TENANT' }); // not a clean report of nothing
    const records = [];
    for await (const r of vault.accessLog({})) if (r.action === 'keys.check') records.push(r.outcome);
    expect(records).toEqual(['granted', 'granted', 'granted', 'failed:UNKNOWN_TENANT']);
  });

  it('names a session key written over, a session key re-bound to another version, and a tenant key written over; verify, holding no key, names each by its signature', async () => {
    // Each at the next place in its wrap sequence, as a rewrap would write it (0049 refuses other bytes at the same place).
    await asOperatorRole('bank', `UPDATE sessions SET wrapped_data_key = set_byte(wrapped_data_key, 30, (get_byte(wrapped_data_key, 30) + 1) % 256), wrap_seq = wrap_seq + 1 WHERE session_id = 'a'`);
    await asOperatorRole('bank', `UPDATE sessions SET tenant_key_version = 2 WHERE session_id = 'b'`);
    await asOperatorRole('insurer', `UPDATE tenant_keys SET wrapped_key = set_byte(wrapped_key, 30, (get_byte(wrapped_key, 30) + 1) % 256), wrap_seq = wrap_seq + 1 WHERE version = 1`);
    const named = (await vault.verify()).problems.map((p) => `${p.tenant} ${p.session} ${p.seq} ${p.kind}`);
    expect(named).toEqual(['bank a 1 session_key_unsigned', 'bank b 1 session_key_unsigned', 'insurer (tenant key) 1 tenant_key_unsigned']);
    const report = await check();
    expect(report).toMatchObject({ ok: false, tenants: 2, tenantKeys: 3, sessionKeys: 6 });
    expect(report.problems).toEqual([
      { tenant: 'bank', version: 1, session: 'a', kind: 'session_key_unreadable', code: 'DECRYPTION_FAILED' },
      { tenant: 'bank', version: 2, session: 'b', kind: 'session_key_unreadable', code: 'DECRYPTION_FAILED' },
      { tenant: 'insurer', version: 1, kind: 'tenant_key_unreadable', code: 'DECRYPTION_FAILED' },
      { tenant: 'insurer', version: 1, session: 'a', kind: 'session_key_unreadable', code: 'DECRYPTION_FAILED' },
      { tenant: 'insurer', version: 1, session: 'b', kind: 'session_key_unreadable', code: 'DECRYPTION_FAILED' },
    ]);
    // One tenant at a time, as the CLI runs it: exit 1 and one line a key, exit 0 for a sound tenant.
    const env = { VAULT_HOME: home, ...(url ? { VAULT_DATABASE_URL: url } : {}) };
    await closeOnce(); // the embedded store serves one process at a time
    const bad = await runCli(env, ['keys', 'check', 'bank', '--actor', 'custodian']);
    expect([bad.code, bad.stdout, bad.stderr]).toEqual([
      1,
      'KEYS THAT DO NOT OPEN: 1 tenant(s), 2 tenant key(s), 4 session key(s) checked\n' +
        '  1 of 1 tenant(s) take signed key wraps only\n' +
        '  bank/a version 1: session_key_unreadable (DECRYPTION_FAILED)\n' +
        '  bank/b version 2: session_key_unreadable (DECRYPTION_FAILED)\n',
      '',
    ]);
    const json = await runCli(env, ['keys', 'check', 'insurer', '--actor', 'custodian', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, tenantKeys: 1, problems: [{ kind: 'tenant_key_unreadable' }, {}, {}] });
    const audit = await runCli(env, ['access-log', '--json', '--tenant', 'bank']);
    // The bank's listing shows its own check and the vault's own (of every tenant, which concern the bank too); the insurer's is withheld.
    const listed = audit.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(listed.filter((r) => r.action === 'keys.check').map((r) => [r.tenant, r.actor, r.outcome])).toEqual([
      [null, 'custodian', 'granted'],
      [null, 'custodian', 'granted'],
      ['bank', 'custodian', 'granted'],
    ]);
    expect(listed.filter((r) => r.tenant === 'insurer')).toEqual([]);
    // The text listing shows the same records as the bank's checkable one, the vault's own among them; a listing since a time before them all is that listing.
    const text = await runCli(env, ['access-log', '--tenant', 'bank']);
    expect(text.stdout.split('\n').filter((l) => / keys\.check /.test(l)).map((l) => l.split(/\s+/).slice(3, 6))).toEqual([
      ['custodian', 'keys.check', '-/-'],
      ['custodian', 'keys.check', '-/-'],
      ['custodian', 'keys.check', 'bank/-'],
    ]);
    const since = await runCli(env, ['access-log', '--tenant', 'bank', '--since', '2000-01-01T00:00:00Z', '--json']);
    expect(since.stdout).toBe(audit.stdout);
    // A master rotation, which must unwrap every tenant key, stops at the one written over:
    // before it unwraps it, as no trusted key signed it in a tenant whose wraps are all signed.
    const again = await openVault({ home, database: url, logger: createLogger({ level: 'silent' }) });
    try {
      await expect(again.operator({ actor: 'sec', reason: 'annual' }).rotateMaster()).rejects.toMatchObject({ code: 'WRAP_UNSIGNED' });
    } finally {
      await again.close();
    }
  }, 120_000);

  it('names a tenant key moved under a master key the keyring does not hold (KEY_NOT_FOUND); a provider that does not answer ends the check unproven (KEY_UNAVAILABLE), recorded', async () => {
    await withOpened({}, (v) => withTenant(storeOf(v).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(`UPDATE tenant_keys SET master_key_id = 'local:99' WHERE version = 2`))));
    const report = await withOpened({}, (v) => v.operator({ actor: 'custodian', reason: 'quarterly key check' }).checkKeys('bank'));
    expect(report.problems).toEqual([
      { tenant: 'bank', version: 2, kind: 'tenant_key_unreadable', code: 'KEY_NOT_FOUND' },
      { tenant: 'bank', version: 1, session: 'a', kind: 'session_key_unreadable', code: 'DECRYPTION_FAILED' },
      { tenant: 'bank', version: 2, session: 'b', kind: 'session_key_unreadable', code: 'KEY_NOT_FOUND' },
      { tenant: 'bank', version: 2, session: 'd', kind: 'session_key_unreadable', code: 'KEY_NOT_FOUND' },
    ]);
    // A key provider that times out proves nothing either way: the check stops, typed, and says so in the trail.
    const down = { masterKeyId: 'kms:down', wrapTenantKey: () => Promise.reject(new Error('ETIMEDOUT')), unwrapTenantKey: () => Promise.reject(new Error('ETIMEDOUT')) };
    await withOpened({ keyProvider: down }, async (v) => {
      await expect(v.operator({ actor: 'custodian', reason: 'quarterly key check' }).checkKeys('insurer')).rejects.toMatchObject({ code: 'KEY_UNAVAILABLE' });
      const outcomes = [];
      for await (const r of v.accessLog({ tenant: 'insurer' })) if (r.action === 'keys.check') outcomes.push(r.outcome);
      expect(outcomes.at(-1)).toBe('failed:KEY_UNAVAILABLE');
    });
  }, 120_000);
});
