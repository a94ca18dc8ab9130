import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import type { Vault } from '../../src/vault';
import { asOwner } from '../support/owner';
import { storeHome, type StoreHome } from '../support/store-home';
import { forgeEvent } from '../support/forged-event';
import { hookProvider } from '../support/hook-provider';

/**
 * Operations that read, decide, then write in another transaction, and what meets them
 * when the row changed in between. Each is moved exactly there by a key provider the
 * operation asks in between (support/hook-provider.ts).
 *
 * `checkpoint` checks a session's head, then signs it in a transaction that finds it
 * unchanged; a head that moved in between is checked again (vault/checkpoint.ts). Were
 * the second look missing, the run would sign whatever the head had become, unchecked:
 * an event the application role chained on meanwhile, which no key opens, would be signed
 * into the chain and `verify` would go clean. The head is moved exactly there, by a key
 * provider the run asks while it checks (a session with no checkpoint is checked by
 * opening its events, which unwraps its keys), and which declines, so that the keyring
 * behind it answers. On a server only: the embedded store admits one connection, which
 * the check holds while it asks the provider.
 */
afterAll(dropCreatedDatabases);

const servers = backends().filter((b) => b.name === 'postgres');
process.stderr.write('[races.test.ts] PGlite not run here: its one connection is held by the operation while the provider changes the row through another\n');

describe.each(servers)("a head that moves while checkpoint checks it, on $name", (backend) => {
  let store: StoreHome;
  let vault: Vault;
  const asApp = (v: Vault) => (q: string) => withTenant(storeOf(v).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), storeOf(v).layout.appRole);
  const checkpointRows = async (session: string) =>
    ((await asApp(vault)(`SELECT seq FROM checkpoints WHERE session_id = '${session}' ORDER BY seq`)) as unknown as { rows: { seq: string }[] }).rows.map((r) => Number(r.seq));

  /** A session written with signing off: no checkpoint, so a run checks it by opening its events. */
  const unsignedSession = (session: string) =>
    store.withVault((v) => v.session('bank', session).appendMany([{ type: 'message', role: 'user', content: 'one' }, { type: 'task', task: 'two' }]), { checkpoints: false });

  beforeAll(async () => {
    store = await storeHome(backend);
    await store.withVault(async (v) => {
      await v.createTenant('bank');
      // A tenant from before drizzle/0051, where a writer with signing off may still create
      // sessions: set so by the owner with triggers off, as no role may clear it.
      await asOwner(v, store.database!, [{ text: `UPDATE tenants SET wraps_signed = false WHERE tenant_id = 'bank'` }]);
    });
  }, 60_000);
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  it('an event chained on by the application role meanwhile is not signed: the run reports unsigned_head, and verify names it', async () => {
    await unsignedSession('forged');
    const writer = await store.open();
    const hook = hookProvider(() => forgeEvent(asApp(writer), 'bank', 'forged'));
    vault = await store.open({ keyProvider: hook.provider });
    try {
      expect(await vault.checkpoint({ tenant: 'bank', session: 'forged' })).toEqual([expect.objectContaining({ seq: 3, witness: 'unsigned_head' })]);
    } finally {
      await writer.close();
    }
    expect(hook.seen.fired).toBe(true); // the head did move between the check and the signing
    expect(await checkpointRows('forged')).toEqual([]);
    expect((await vault.verify({ tenant: 'bank', session: 'forged' })).problems.map((p) => `${p.seq} ${p.kind}`)).toEqual(['3 session_key_unsigned', '1 unsigned_tail']);
    await vault.close();
  });

  it("a head another vault's append moved meanwhile is checked again and signed: its own checkpoint covers the new event", async () => {
    await unsignedSession('moved');
    const writer = await store.open();
    const hook = hookProvider(() => writer.session('bank', 'moved').append({ type: 'message', role: 'assistant', content: 'three' }));
    vault = await store.open({ keyProvider: hook.provider });
    try {
      expect(await vault.checkpoint({ tenant: 'bank', session: 'moved' })).toEqual([expect.objectContaining({ seq: 3, witness: 'recorded' })]);
    } finally {
      await writer.close();
    }
    expect(hook.seen.fired).toBe(true);
    expect(await checkpointRows('moved')).toEqual([3]); // the writer's: the run's own, under the same key at the same seq, is the same row
    expect((await vault.verify({ tenant: 'bank', session: 'moved' })).problems.map((p) => `${p.seq} ${p.kind}`)).toEqual(['3 session_key_unsigned']);
  });
});

describe.each(servers)('a session shredded while a rewrap works through its tenant, on $name', (backend) => {
  let store: StoreHome;

  beforeAll(async () => {
    store = await storeHome(backend);
    await store.withVault(async (v) => {
      await v.createTenant('bank');
      for (const s of ['a', 'b', 'c']) await v.session('bank', s).append({ type: 'message', role: 'user', content: `customer ${s}` });
      await v.operator({ actor: 'sec', reason: 'rotation' }).rotateKey('bank');
    });
  }, 60_000);
  afterAll(() => store?.cleanup());

  /**
   * The rewrap lists a page of sessions, then moves each in a transaction of its own. One
   * shredded after the listing is left as the row it locks shows it: before, the rewrap
   * used the wrap it had listed and would have written the erased key back (which the
   * database now refuses too, drizzle/0050, failing the whole run).
   */
  it('leaves the shredded session erased and moves the others', async () => {
    const other = await store.open();
    const hook = hookProvider(() => other.operator({ actor: 'dpo', reason: 'erasure request' }).shred('bank', 'b'));
    try {
      await store.withVault(async (v) => {
        // Asked first while moving 'a', in the transaction that holds 'a' and nothing else.
        await expect(v.operator({ actor: 'sec', reason: 'rotation' }).rewrap('bank')).resolves.toEqual({ rewrapped: 2, held: 0, primary: 2 });
        expect(hook.seen.fired).toBe(true);
        expect((await v.keys('bank')).map((k) => k.sessions)).toEqual([0, 2]);
        await expect(v.session('bank', 'b').state()).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
        expect((await v.session('bank', 'c').state()).messages.map((m) => m.content)).toEqual(['customer c']);
        expect((await v.verify({ tenant: 'bank' })).problems).toEqual([]);
      }, { keyProvider: hook.provider });
    } finally {
      await other.close();
    }
  });
});
