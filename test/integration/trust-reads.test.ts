import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { eventHash, openEvent } from '../../src/events';
import { SecretBytes } from '../../src/crypto';
import { verifyBundle } from '../../src/audit';
import type { StoredEvent } from '../../src/domain';
import type { Vault } from '../../src/vault';

/**
 * Reads never show a forged row, and a decrypting export does not open the future:
 * each performed as the attacker would (a DBA rewriting clear columns, with and without
 * recomputing the chain; a bundle holder with a later database dump).
 */
afterAll(dropCreatedDatabases);

type Row = Record<string, any>;
const toStored = (r: Row): StoredEvent => ({
  tenant: r.tenant_id, session: r.session_id, seq: Number(r.seq), type: r.type, at: new Date(r.at), correlationId: r.correlation_id,
  idempotencyKey: r.idempotency_key, tool: r.tool, promptTokens: r.prompt_tokens, completionTokens: r.completion_tokens,
  costUsd: r.cost_usd, durationMs: r.duration_ms === null ? null : Number(r.duration_ms), keyVersion: r.key_version,
  nonce: new Uint8Array(r.nonce), ciphertext: new Uint8Array(r.ciphertext), hash: new Uint8Array(r.hash),
});

describe.each(backends())('reads and exports under attack on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  const rows = async (session: string): Promise<StoredEvent[]> =>
    ((await asOwner(vault, url, [{ text: `SELECT * FROM events WHERE tenant_id = 'bank' AND session_id = $1 ORDER BY seq`, values: [session] }]))[0] as Row[]).map(toStored);
  const conversation = [
    { type: 'message', role: 'user', content: 'Move 100 EUR to savings' },
    { type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amount: 100 } },
    { type: 'tool_result', callId: 'c1', output: { ok: true }, durationMs: 40 },
    { type: 'message', role: 'assistant', content: 'Done.', usage: { promptTokens: 10, completionTokens: 2 }, costUsd: 0.001 },
  ];

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend));
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  it.each([
    ['tool', `tool = 'lookup_policy'`, 2],
    ['duration', `duration_ms = 1`, 3],
    ['tokens', `prompt_tokens = 999999`, 4],
    ['cost', `cost_usd = 0`, 4],
    ['correlation id', `correlation_id = 'other-request'`, 1],
  ])('a DBA rewriting the %s column (triggers off) gets the read refused, not the forged value shown', async (label, set, seq) => {
    const s = `clear-${label.replace(/ /g, '-')}`;
    await vault.session('bank', s).appendMany(conversation);
    await asOwner(vault, url, [{ text: `UPDATE events SET ${set} WHERE tenant_id = 'bank' AND session_id = '${s}' AND seq = ${seq}` }]);
    const read = async () => {
      for await (const _ of vault.session('bank', s).events());
    };
    // The associated data binds every clear column: the row does not open.
    await expect(read()).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    await expect(vault.session('bank', s).state()).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    await expect(vault.operator({ actor: 'ops' }).state('bank', s)).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    // A read that starts at the forged row checks it against the row before it.
    const from = async () => {
      for await (const _ of vault.session('bank', s).events({ fromSeq: seq }));
    };
    await expect(from()).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
  });

  it('a DBA who removes a row gets the read refused as CHAIN_BROKEN; one who rewrites a shred marker is named by verify', async () => {
    await vault.session('bank', 'gap').appendMany(conversation);
    await asOwner(vault, url, [{ text: `DELETE FROM events WHERE tenant_id = 'bank' AND session_id = 'gap' AND seq = 2` }]);
    await expect(vault.session('bank', 'gap').state()).rejects.toMatchObject({ code: 'CHAIN_BROKEN', category: 'integrity' });
    await vault.session('bank', 'erased').appendMany(conversation);
    await vault.operator({ actor: 'dpo', reason: 'GDPR art. 17' }).shred('bank', 'erased');
    const marker = JSON.stringify({ actor: 'nobody', reason: 'GDPR art. 17' });
    await asOwner(vault, url, [{ text: `UPDATE events SET ciphertext = convert_to($1, 'UTF8') WHERE tenant_id = 'bank' AND session_id = 'erased' AND seq = 5`, values: [marker] }]);
    expect((await vault.verify({ tenant: 'bank', session: 'erased' })).problems).toEqual(expect.arrayContaining([expect.objectContaining({ seq: 5, kind: 'hash_mismatch' })]));
  });

  it('a DBA who rewrites the tool name and recomputes the whole chain still cannot get it shown: the associated data binds it', async () => {
    await vault.session('bank', 'rechained').appendMany(conversation);
    const stored = await rows('rechained');
    let prev: Uint8Array = new Uint8Array(32);
    const forged = stored.map((e) => {
      const row = { ...e, tool: e.seq === 2 ? 'lookup_policy' : e.tool };
      const hash = eventHash(prev, row);
      prev = hash;
      return { ...row, hash };
    });
    await asOwner(vault, url, [
      ...forged.map((e) => ({ text: `UPDATE events SET tool = $1, hash = $2 WHERE tenant_id = 'bank' AND session_id = 'rechained' AND seq = $3`, values: [e.tool, Buffer.from(e.hash), e.seq] })),
      { text: `UPDATE sessions SET head_hash = $1 WHERE tenant_id = 'bank' AND session_id = 'rechained'`, values: [Buffer.from(prev)] },
    ]);
    // The recomputed head is one no trusted key signed: refused before any event is opened.
    // Past that, the rewritten tool name would not open either (associated data: chain.test.ts "a rewritten tool name").
    await expect(vault.session('bank', 'rechained').state()).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
    // And verify names it from the signed checkpoint the rewrite contradicts.
    expect((await vault.verify({ tenant: 'bank', session: 'rechained' })).problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'checkpoint_mismatch' })]));
  });

  it("a decrypting export discloses each event's own key, and none of them opens an event appended later", async () => {
    const s = vault.session('bank', 'exported');
    await s.appendMany(conversation);
    const bundle = await vault.operator({ actor: 'auditor-liaison', reason: 'exam 2026' }).export('bank', 'exported', { decrypt: true });
    expect(bundle.plaintext).not.toHaveProperty('dataKey');
    expect(bundle.plaintext!.eventKeys!.map((k) => k.seq)).toEqual([1, 2, 3, 4]);
    expect(await verifyBundle(bundle)).toMatchObject({ ok: true });
    await s.appendMany([{ type: 'message', role: 'user', content: 'my new card PIN is 4711' }, { type: 'task', task: 'later' }]);
    // The bundle holder obtains a dump with the later rows, and tries every key it has.
    const later = (await rows('exported')).filter((e) => e.seq > 4);
    expect(later).toHaveLength(2);
    for (const e of later) {
      for (const k of bundle.plaintext!.eventKeys!) {
        const key = SecretBytes.adopt(new Uint8Array(Buffer.from(k.key, 'base64')));
        expect(() => openEvent(e, { eventKey: key })).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
        expect(() => openEvent(e, key)).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
      }
    }
    // A disclosed key swapped onto another event is caught by verify-bundle.
    const swapped = JSON.parse(JSON.stringify(bundle));
    swapped.plaintext.eventKeys[0].key = swapped.plaintext.eventKeys[1].key;
    expect((await verifyBundle(swapped)).ok).toBe(false);
  });

  it('a bundle of a damaged session says so in its signed manifest, and verify-bundle reports it', async () => {
    await vault.session('bank', 'damaged').appendMany(conversation);
    await vault.session('bank', 'damaged').append({ type: 'task', task: 'last' });
    // The DBA cuts the last event and its checkpoint: what is left is a consistent chain.
    await asOwner(vault, url, [
      { text: `DELETE FROM events WHERE tenant_id = 'bank' AND session_id = 'damaged' AND seq = 5` },
      { text: `DELETE FROM checkpoints WHERE tenant_id = 'bank' AND session_id = 'damaged' AND seq = 5` },
    ]);
    const bundle = await vault.operator({ actor: 'liaison' }).export('bank', 'damaged');
    expect(bundle.manifest.sourceProblems).toEqual(expect.arrayContaining([{ seq: 5, kind: 'missing_tail' }]));
    const report = await verifyBundle(bundle);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'source_problem', seq: 5 })]));
    const clean = await vault.operator({ actor: 'liaison' }).export('bank', 'exported');
    expect(clean.manifest.sourceProblems).toEqual([]);
  });
});
