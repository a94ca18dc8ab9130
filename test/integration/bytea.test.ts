import fc from 'fast-check';
import { sql } from 'drizzle-orm';
import { backends, dropCreatedDatabases } from '../support/backends';
import { storeHome, type StoreHome } from '../support/store-home';
import { type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { rowsOf } from '../../src/store/types';
import { withTenant } from '../../src/store';
import { refusal } from '../support/refusal';

/**
 * Bytes to and from the database exactly, on both stores. The embedded store (PGlite)
 * carries bytea in hex, one call each way, as node-postgres does on a server (PGlite's
 * own codec went a byte at a time: src/store/pglite.ts); what it gives back must be what
 * was sent, whatever the bytes and however many.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())('bytea, on $name', (backend) => {
  let store: StoreHome;
  let vault: Vault;
  beforeAll(async () => {
    store = await storeHome(backend);
    vault = await store.open();
  });
  afterAll(async () => {
    await vault?.close();
    store?.cleanup();
  });

  const echo = async (b: Uint8Array) => rowsOf<{ b: Uint8Array; n: number }>(await storeOf(vault).db.execute(sql`SELECT ${b}::bytea AS b, length(${b}::bytea)::int AS n`))[0]!;

  it('goes and comes back byte for byte, views into larger buffers included', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.nat(16), async (bytes, offset) => {
        const inside = new Uint8Array(bytes.length + offset + 7);
        inside.set(bytes, offset);
        const view = inside.subarray(offset, offset + bytes.length);
        const { b, n } = await echo(view);
        expect(n).toBe(bytes.length);
        expect(Buffer.from(b).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 100 },
    );
    const large = new Uint8Array(300_000).map((_, i) => (i * 7919) & 0xff);
    const { b, n } = await echo(large);
    expect(n).toBe(large.length);
    expect(Buffer.from(b).equals(Buffer.from(large))).toBe(true);
  });

  it('an event read back is the event appended, its ciphertext and hash included', async () => {
    await vault.createTenant('bank');
    await vault.session('bank', 'b').append({ type: 'message', role: 'user', content: 'bytes €😀' });
    const [row] = rowsOf<{ hash: Uint8Array }>(await withTenant(storeOf(vault).db, 'bank', 'reading', (tx) => tx.execute(sql`SELECT hash FROM events WHERE session_id = 'b'`)));
    expect(row!.hash).toHaveLength(32);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
    expect((await vault.session('bank', 'b').state()).messages).toEqual([expect.objectContaining({ content: 'bytes €😀' })]);
  });

  if (backend.name === 'pglite') {
    it('refuses what is not bytes where bytes go, storing nothing', async () => {
      const client = (storeOf(vault).db as unknown as { $client: { query: (q: string, v: unknown[]) => Promise<unknown> } }).$client;
      expect(await refusal(client.query('SELECT $1::bytea AS b', ['not bytes']))).toMatch(/bytea takes a Uint8Array/);
    });
  }
});
