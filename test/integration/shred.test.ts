import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import type { Vault } from '../../src/vault';
import { verifyBundle } from '../../src/audit';

/** Crypto-shredding: erasure from an append-only log by destroying keys, never under legal hold. */
afterAll(dropCreatedDatabases);

const TABLES = ['tenants', 'tenant_keys', 'sessions', 'events', 'checkpoints', 'access_log', 'legal_holds'];

describe.each(backends())('crypto-shredding on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  const op = () => vault.operator({ actor: 'dpo', reason: 'GDPR art. 17 request 88' });
  const read = async (t: string, s: string) => {
    const out: unknown[] = [];
    for await (const e of vault.session(t, s).events()) out.push(e.data);
    return out;
  };

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend));
    for (const t of ['bank', 'other']) await vault.createTenant(t);
    for (const s of ['alice', 'bob', 'carol']) await vault.session('bank', s).appendMany([{ type: 'message', role: 'user', content: `I am ${s}` }, { type: 'task', task: 't' }]);
    await vault.session('other', 'x').append({ type: 'task', task: 'x' });
  });
  afterAll(() => close());

  it('destroys one session key: its content is gone, the others are readable, every chain verifies, no copy of the key remains', async () => {
    const [[before]] = (await asOwner(vault, url, [{ text: `SELECT wrapped_data_key AS k FROM sessions WHERE tenant_id = 'bank' AND session_id = 'alice'` }])) as [{ k: Uint8Array }[]];
    const wrapped = Buffer.from(before!.k);
    expect(await op().shred('bank', 'alice')).toEqual({ sessions: 1, tenantKeysDestroyed: false });

    await expect(read('bank', 'alice')).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    await expect(vault.session('bank', 'alice').state()).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    await expect(vault.session('bank', 'alice').append({ type: 'task', task: 'more' })).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    expect(await read('bank', 'bob')).toEqual([{ role: 'user', content: 'I am bob' }, { task: 't' }]);
    expect(await vault.verify()).toMatchObject({ ok: true, problems: [] });

    // No copy of the wrapped session key, in any column of any table.
    for (const table of TABLES) {
      const [rows] = (await asOwner(vault, url, [{ text: `SELECT * FROM ${table}` }])) as [Record<string, unknown>[]];
      for (const row of rows) {
        for (const value of Object.values(row)) {
          if (value instanceof Uint8Array) expect(Buffer.from(value).includes(wrapped)).toBe(false);
          if (typeof value === 'string') expect(value).not.toContain(wrapped.toString('hex'));
        }
      }
    }
    const [[row]] = (await asOwner(vault, url, [{ text: `SELECT wrapped_data_key AS k FROM sessions WHERE session_id = 'alice'` }])) as [{ k: unknown }[]];
    expect(row!.k).toBeNull();
  });

  it("closes the shredded session's own chain with who and why, provable offline", async () => {
    const bundle = await vault.session('bank', 'alice').export(); // no key needed without decrypt
    const last = bundle.events[bundle.events.length - 1]!;
    expect(last).toMatchObject({ seq: 3, type: 'key_shredded', keyVersion: 0 });
    expect(JSON.parse(Buffer.from(last.ciphertext, 'base64').toString('utf8'))).toEqual({ actor: 'dpo', reason: 'GDPR art. 17 request 88' });
    const report = await verifyBundle(bundle);
    expect(report.ok).toBe(true);
    expect(bundle.checkpoints.some((c) => c.includes('\n3\n'))).toBe(true); // the closing record is signed
    await expect(vault.session('bank', 'alice').export({ decrypt: true })).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
  });

  it('is refused under legal hold, for the session and for its tenant, changing nothing', async () => {
    expect(await op().setHold('bank', 'bob')).toBe(true);
    expect(await op().setHold('bank', 'bob')).toBe(false);
    await expect(op().shred('bank', 'bob')).rejects.toMatchObject({ code: 'LEGAL_HOLD' });
    await expect(op().shred('bank')).rejects.toMatchObject({ code: 'LEGAL_HOLD', message: expect.stringMatching(/bob/) });
    expect(await read('bank', 'bob')).toHaveLength(2);
    expect((await vault.keys('bank')).every((k) => k.state !== 'destroyed')).toBe(true);
    expect((await vault.holds()).map((h) => [h.tenant, h.session, h.setBy, h.reason])).toEqual([['bank', 'bob', 'dpo', 'GDPR art. 17 request 88']]);
    await expect(vault.operator({ actor: 'dpo' }).setHold('bank', 'carol')).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/--reason/) });
    expect(await op().clearHold('bank', 'bob')).toBe(true);
    expect(await vault.holds()).toEqual([]);
  });

  it('shreds a whole tenant: every session and key version, other tenants untouched', async () => {
    expect(await op().shred('bank')).toEqual({ sessions: 2, tenantKeysDestroyed: true });
    for (const s of ['bob', 'carol']) await expect(read('bank', s)).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    await expect(vault.session('bank', 'new').append({ type: 'task', task: 'x' })).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    expect((await vault.keys('bank')).map((k) => k.state)).toEqual(['destroyed']);
    expect(await read('other', 'x')).toEqual([{ task: 'x' }]);
    expect(await vault.verify()).toMatchObject({ ok: true });
  });

  it('records who shredded what, when and why', async () => {
    const shreds = [];
    for await (const r of vault.accessLog({ tenant: 'bank' })) if (r.action === 'keys.shred' && r.outcome === 'granted') shreds.push([r.actor, r.session, r.reason]);
    expect(shreds).toEqual([
      ['dpo', 'alice', 'GDPR art. 17 request 88'],
      ['dpo', 'bob', 'GDPR art. 17 request 88'],
      ['dpo', null, 'GDPR art. 17 request 88'],
      ['dpo', null, 'GDPR art. 17 request 88'],
    ]);
  });
});
