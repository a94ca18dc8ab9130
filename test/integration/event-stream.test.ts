import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { replay } from '../../src/replay';
import type { VaultEvent } from '../../src/domain';
import type { Vault } from '../../src/vault';

/**
 * Reads hand out events in the arrays they were decrypted in (EventStream.chunks,
 * src/vault/read.ts), and replay folds them so. What that must not change: an operator's
 * recorded access decrypts the session once, however the stream is iterated; a row a DBA
 * rewrote fails where it is, after the events before it, and a reader that stops before
 * it never meets it; the events are the same, one at a time or in arrays.
 */
afterAll(dropCreatedDatabases);

describe.each(backends())('event streams on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend, { pageSize: 50 }));
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  const trailOf = async (session: string) => {
    const out: string[] = [];
    for await (const r of vault.accessLog({ tenant: 'bank' })) if (r.session === session) out.push(`${r.actor} ${r.action} ${r.outcome}`);
    return out;
  };

  it("an operator's stream decrypts the session once: iterated again, one at a time or in arrays, it hands out nothing", async () => {
    const s = vault.session('bank', 'once');
    await s.appendMany(Array.from({ length: 120 }, (_, i) => ({ type: 'task', task: `t${i}` })));
    const stream = await vault.operator({ actor: 'mallory', reason: 'one look' }).events('bank', 'once');
    const first: number[] = [];
    for await (const e of stream) first.push(e.seq);
    expect(first).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));

    const again: number[] = [];
    for await (const e of stream) again.push(e.seq);
    for await (const chunk of stream.chunks()) again.push(...chunk.map((e) => e.seq));
    expect(again).toEqual([]);
    expect(await trailOf('once')).toEqual(['mallory events granted']);
  });

  it('the same events one at a time and in arrays, each array within a page, in seq order', async () => {
    const s = vault.session('bank', 'same');
    // Sizes that put the 128 KiB boundary at different places in each page.
    await s.appendMany(Array.from({ length: 140 }, (_, i) => ({ type: 'message', role: 'user', content: `${i} ${'y'.repeat((i * 997) % 9000)}` })));
    const single: VaultEvent[] = [];
    for await (const e of s.events()) single.push(e);
    const chunks: (readonly VaultEvent[])[] = [];
    for await (const c of s.events().chunks()) chunks.push(c);
    expect(chunks.flat()).toEqual(single);
    expect(single.map((e) => e.seq)).toEqual(Array.from({ length: 140 }, (_, i) => i + 1));
    // More than one array a page (50 events of up to 9 KB cross 128 KiB), none across two pages.
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks) expect(Math.floor((c[0]!.seq - 1) / 50)).toBe(Math.floor((c[c.length - 1]!.seq - 1) / 50));
    // A range: only its events.
    const ranged: number[] = [];
    for await (const c of s.events({ fromSeq: 45, toSeq: 105 }).chunks()) ranged.push(...c.map((e) => e.seq));
    expect(ranged).toEqual(Array.from({ length: 61 }, (_, i) => i + 45));
  });

  it('an archived session comes in the same bounded arrays as a hot one, and replays the same', async () => {
    const s = vault.session('bank', 'cold');
    await s.appendMany(Array.from({ length: 90 }, (_, i) => ({ type: 'message', role: 'user', content: `${i} ${'z'.repeat(4000)}` })));
    const hot: (readonly VaultEvent[])[] = [];
    for await (const c of s.events().chunks()) hot.push(c);
    const meta = { tenant: 'bank', session: 'cold', agent: null };
    const hotState = await replay(meta, s.events());
    expect((await vault.operator({ actor: 'ops', reason: 'cold storage' }).archive('bank', 'cold')).outcome).toBe('archived');
    const cold: (readonly VaultEvent[])[] = [];
    for await (const c of s.events().chunks()) cold.push(c);
    // About 4 KB of ciphertext an event (padded to 4,096 bytes and the tag): at most 32 to an array, not the archive's 90 at once.
    expect(cold.map((c) => c.length)).toEqual([32, 32, 26]);
    expect(cold.flat()).toEqual(hot.flat());
    expect(await replay(meta, s.events())).toEqual(hotState);
    const ranged: number[] = [];
    for await (const c of s.events({ fromSeq: 30, toSeq: 70 }).chunks()) ranged.push(...c.map((e) => e.seq));
    expect(ranged).toEqual(Array.from({ length: 41 }, (_, i) => i + 30));
  });

  it('a row a DBA rewrote fails where it is: the events before it come first, and a reader that stops before it never meets it', async () => {
    const s = vault.session('bank', 'rewritten');
    await s.appendMany(Array.from({ length: 30 }, (_, i) => ({ type: 'message', role: 'user', content: `m${i + 1}` })));
    await asOwner(vault, url, [
      { text: `UPDATE events SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) WHERE tenant_id = 'bank' AND session_id = 'rewritten' AND seq = 20` },
    ]);

    const seen: number[] = [];
    const read = (async () => {
      for await (const e of s.events()) seen.push(e.seq);
    })();
    await expect(read).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    expect(seen).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));

    const inArrays: number[] = [];
    const chunked = (async () => {
      for await (const c of s.events().chunks()) inArrays.push(...c.map((e) => e.seq));
    })();
    await expect(chunked).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    expect(inArrays).toEqual(seen);

    // The row is in the same array as those before it (a page of 50): a reader that stops
    // at 19, one at a time or in arrays, has every event before it and no error.
    const upTo19: number[] = [];
    for await (const e of s.events()) {
      upTo19.push(e.seq);
      if (e.seq === 19) break;
    }
    expect(upTo19).toEqual(seen);
    for await (const c of s.events().chunks()) {
      expect(c.map((e) => e.seq)).toEqual(seen);
      break;
    }
    const meta = { tenant: 'bank', session: 'rewritten', agent: null };
    const replayed = await replay(meta, s.events({ toSeq: 19 }));
    expect(replayed.messages.map((m) => m.content)).toEqual(Array.from({ length: 19 }, (_, i) => `m${i + 1}`));
    await expect(replay(meta, s.events())).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    // The operator's state at a point before it is answered, and the whole state refused.
    const op = vault.operator({ actor: 'auditor', reason: 'check' });
    expect((await op.state('bank', 'rewritten', { atSeq: 19 })).lastSeq).toBe(19);
    await expect(op.state('bank', 'rewritten')).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
  });
});
