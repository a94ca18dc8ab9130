import { verifyBundle } from '../../src/audit';
import type { Vault } from '../../src/vault';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { storeHome } from '../support/store-home';

/**
 * What the length of a sealed row tells whoever reads the tables without a key (a DBA, a
 * backup, a replica): an AEAD ciphertext is its plaintext's length plus 16, so before
 * padding a DBA who knew the agent's tools told a transfer refused from one made, and read
 * the length of every customer's message. Performed as the DBA, reading lengths with SQL.
 */
afterAll(dropCreatedDatabases);

type Row = { session_id: string; seq: number; type: string; key_version: number; n: number };

describe.each(backends())('the length of what a DBA reads, with a $name database', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend));
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  const lengths = async (table: 'events' | 'snapshots', session: string): Promise<Row[]> =>
    ((await asOwner(vault, url, [{ text: `SELECT session_id, seq::int AS seq, ${table === 'events' ? 'type' : "'snapshot'"} AS type, key_version, length(ciphertext)::int AS n FROM ${table} WHERE tenant_id = 'bank' AND session_id LIKE $1 ORDER BY session_id, seq`, values: [session] }]))[0] as Row[]);

  it("does not tell which of the agent's tool results came back, nor how long a customer's message was", async () => {
    const answers = {
      'transfer-refused': { status: 'denied' },
      'transfer-made': { status: 'approved', transfer: 'EUR 5,000.00 to DE89 3704 0044 0532 0130 00', reference: 'TX-2026-118842' },
    };
    for (const [session, output] of Object.entries(answers)) {
      await vault.session('bank', session).appendMany([
        { type: 'message', role: 'user', content: 'Please move 5,000 EUR to my savings account' },
        { type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amount: 5000, currency: 'EUR' } },
        { type: 'tool_result', callId: 'c1', output },
      ]);
    }
    // Before, each ciphertext was 16 bytes longer than its JSON: 60 bytes for the refusal
    // and 148 for the transfer made, told apart at a glance.
    const results = (await lengths('events', 'transfer-%')).filter((r) => r.type === 'tool_result');
    expect(results.map((r) => [r.session_id, r.key_version, r.n])).toEqual([
      ['transfer-made', 3, 272],
      ['transfer-refused', 3, 272],
    ]);
    expect((await vault.session('bank', 'transfer-made').state()).toolCalls[0]).toMatchObject({ callId: 'c1', output: answers['transfer-made'] });

    // A customer's messages of every length from 1 to 200 characters: one length for all.
    await vault.session('bank', 'chat').appendMany(Array.from({ length: 200 }, (_, i) => ({ type: 'message' as const, role: 'user' as const, content: 'x'.repeat(i + 1) })));
    expect([...new Set((await lengths('events', 'chat')).map((r) => r.n))]).toEqual([272]);
    const last = [];
    for await (const e of vault.session('bank', 'chat').events({ fromSeq: 200 })) last.push(e);
    expect(last).toMatchObject([{ seq: 200, data: { content: 'x'.repeat(200) } }]);
  });

  it("does not tell one session's state from another's by its snapshot's length", async () => {
    for (const [session, content] of [
      ['state-a', 'declined'],
      ['state-b', 'approved, EUR 12,400'],
    ] as const) {
      const s = vault.session('bank', session);
      await s.append({ type: 'message', role: 'assistant', content });
      expect(await s.snapshot()).toBe(1);
    }
    // Before, 12 bytes apart, as the two messages are (770 and 782).
    const snaps = await lengths('snapshots', 'state-%');
    expect(snaps.map((r) => [r.key_version, (r.n - 16) % 256])).toEqual([
      [2, 0],
      [2, 0],
    ]);
    expect(snaps[0]!.n).toBe(snaps[1]!.n);
  });
});

describe.each(backends())('a session sealed before padding and after it, with a $name database', (backend) => {
  it('reads, replays, exports and verifies as one chain: v2 events and a v1 snapshot, then v3 events and a v2 snapshot', async () => {
    const h = await storeHome(backend);
    let vault: Vault | undefined;
    try {
      // A process set as for a rolling upgrade (padContent: false) writes first, as a version before padding did.
      await h.withVault(async (early) => {
        await early.createTenant('bank');
        const s = early.session('bank', 'claim-1');
        await s.appendMany([
          { type: 'message', role: 'user', content: 'My basement flooded' },
          { type: 'task', task: 'assess water damage' },
        ]);
        expect(await s.snapshot()).toBe(2);
      }, { padContent: false });

      vault = await h.open();
      const s = vault.session('bank', 'claim-1');
      await s.appendMany([
        { type: 'message', role: 'assistant', content: 'A surveyor will call you tomorrow' },
        { type: 'state_patch', scope: 'world', patch: { surveyor: 'booked' } },
      ]);
      expect(await s.snapshot()).toBe(4);
      const [events, snaps] = (await asOwner(vault, h.database ?? 'embedded', [
        { text: `SELECT key_version FROM events WHERE session_id = 'claim-1' ORDER BY seq` },
        { text: `SELECT seq::int AS seq, key_version FROM snapshots WHERE session_id = 'claim-1' ORDER BY seq` },
      ])) as [{ key_version: number }[], { seq: number; key_version: number }[]];
      expect(events.map((r) => r.key_version)).toEqual([2, 2, 3, 3]);
      expect(snaps).toEqual([
        { seq: 2, key_version: 1 },
        { seq: 4, key_version: 2 },
      ]);
      const state = await s.state();
      expect(state.messages.map((m) => m.content)).toEqual(['My basement flooded', 'A surveyor will call you tomorrow']);
      expect(state).toMatchObject({ currentTask: 'assess water damage', worldState: { surveyor: 'booked' } });
      // From the v1 snapshot and the v3 event after it.
      expect(await s.state({ atSeq: 3 })).toMatchObject({ lastSeq: 3, currentTask: 'assess water damage' });

      const bundle = await s.export({ decrypt: true });
      expect(bundle.plaintext!.eventKeys!.map((k) => k.seq)).toEqual([1, 2, 3, 4]);
      expect(await verifyBundle(JSON.parse(JSON.stringify(bundle)))).toMatchObject({ ok: true, decrypted: true, problems: [] });
      expect((await vault.verify()).problems).toEqual([]);
    } finally {
      await vault?.close();
      h.cleanup();
    }
  });
});
