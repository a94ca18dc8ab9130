import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { countStatements, shredElsewhere } from '../support/elsewhere';
import type { Vault } from '../../src/vault';
import { VaultCheckpointSaver } from '../../src/integrations/langgraph';

/**
 * A thread's latest checkpoint read from the events this process held after the last
 * latest read (src/integrations/langgraph/saver.ts `latestHeld`), plus those written
 * since, which the one statement it runs returns checked against the chain. It answers
 * what a read of the thread's tail answers: what another saver wrote since, each
 * namespace's own latest; a thread deleted by another process, or a rewritten head, is
 * not read from memory.
 */
afterAll(dropCreatedDatabases);

const checkpoint = (id: string, value: string) => ({ v: 4, id, ts: new Date().toISOString(), channel_values: { messages: [value] }, channel_versions: { messages: Number(id.slice(-2)) }, versions_seen: {} });
const id = (n: number) => `1ef00000-0000-6000-8000-0000000000${String(n).padStart(2, '0')}`;

describe.each(backends())('the latest LangGraph checkpoint from held events on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let home: string;
  let close: () => Promise<void>;
  let statements: { readonly n: number };

  beforeAll(async () => {
    ({ vault, url, home, close } = await testVault(backend));
    await vault.createTenant('bank');
    statements = countStatements(vault);
  });
  afterAll(() => close());

  it('answers from memory in one statement, and sees what another saver wrote since, namespace by namespace', async () => {
    const reader = new VaultCheckpointSaver({ vault, tenant: 'bank' });
    const writer = new VaultCheckpointSaver({ vault, tenant: 'bank' });
    const thread = (ns = '') => ({ configurable: { thread_id: 'claim-1', checkpoint_ns: ns } });
    const latest = async (ns = '') => {
      const t = await reader.getTuple(thread(ns));
      return { id: t?.checkpoint.id, values: t?.checkpoint.channel_values, writes: t?.pendingWrites?.map(([, channel, value]) => [channel, value]) };
    };
    const put = (n: number, value: string, ns = '') => writer.put(thread(ns), checkpoint(id(n), value), { source: 'loop', step: n, parents: {} }, { messages: n });

    await put(1, 'first');
    expect(await latest()).toEqual({ id: id(1), values: { messages: ['first'] }, writes: [] }); // read from the tail: now held
    let before = statements.n;
    expect(await latest()).toEqual({ id: id(1), values: { messages: ['first'] }, writes: [] });
    expect(statements.n - before).toBe(1);

    await put(2, 'second');
    await writer.putWrites({ configurable: { ...thread().configurable, checkpoint_id: id(2) } }, [['messages', 'pending']], 'task-1');
    before = statements.n;
    expect(await latest()).toEqual({ id: id(2), values: { messages: ['second'] }, writes: [['messages', 'pending']] });
    expect(statements.n - before).toBe(1); // the new checkpoint and writes came with the one statement

    await put(3, 'child', 'sub');
    expect(await latest()).toEqual({ id: id(2), values: { messages: ['second'] }, writes: [['messages', 'pending']] }); // past the child's events
    expect(await latest('sub')).toEqual({ id: id(3), values: { messages: ['child'] }, writes: [] });
    await put(4, 'third');
    expect(await latest()).toEqual({ id: id(4), values: { messages: ['third'] }, writes: [] });
    expect(await latest('sub')).toEqual({ id: id(3), values: { messages: ['child'] }, writes: [] });
  });

  it('answers the held checkpoint afresh each time: what a caller changes in a tuple does not reach the next read', async () => {
    const saver = new VaultCheckpointSaver({ vault, tenant: 'bank' });
    const thread = { configurable: { thread_id: 'claim-4', checkpoint_ns: '' } };
    const config = await saver.put(thread, checkpoint(id(1), 'balance 100'), { source: 'loop', step: 1, parents: {} }, { messages: 1 });
    await saver.putWrites(config, [['messages', { amount: 5 }]], 'task-1');
    const expected = await saver.getTuple(thread); // read from the tail: now held
    for (let i = 0; i < 2; i++) {
      const t = (await saver.getTuple(thread))!; // from the held events, their values parsed once
      expect(t).toEqual(expected);
      (t.checkpoint.channel_values.messages as string[]).push('balance 1,000,000');
      t.checkpoint.channel_versions.messages = 99;
      (t.metadata as { step: number }).step = 99;
      (t.pendingWrites![0]![2] as { amount: number }).amount = 5_000;
    }
    expect(await saver.getTuple(thread)).toEqual(expected);
  });

  it('does not answer from memory for a thread another process deleted', async () => {
    const saver = new VaultCheckpointSaver({ vault, tenant: 'bank' });
    const thread = { configurable: { thread_id: 'claim-2', checkpoint_ns: '' } };
    await saver.put(thread, checkpoint(id(1), 'secret balance'), { source: 'input', step: -1, parents: {} }, { messages: 1 });
    expect((await saver.getTuple(thread))?.checkpoint.channel_values).toEqual({ messages: ['secret balance'] });
    const before = statements.n;
    expect((await saver.getTuple(thread))?.checkpoint.channel_values).toEqual({ messages: ['secret balance'] });
    expect(statements.n - before).toBe(1); // held: what the deletion must not leave readable
    await shredElsewhere(vault, { backend: backend.name, home, url }, 'bank', saver.sessionOf('claim-2'), (other) => new VaultCheckpointSaver({ vault: other, tenant: 'bank' }).deleteThread('claim-2'));
    expect(await saver.getTuple(thread)).toBeUndefined();
  });

  it('does not answer from memory when a DBA rewrote the head', async () => {
    const saver = new VaultCheckpointSaver({ vault, tenant: 'bank' });
    const thread = { configurable: { thread_id: 'claim-3', checkpoint_ns: '' } };
    for (const n of [1, 2]) await saver.put(thread, checkpoint(id(n), `v${n}`), { source: 'loop', step: n, parents: {} }, { messages: n });
    expect((await saver.getTuple(thread))?.checkpoint.id).toBe(id(2)); // held
    const s = saver.sessionOf('claim-3');
    await asOwner(vault, url, [
      { text: `UPDATE events e SET ciphertext = f.ciphertext, nonce = f.nonce, hash = f.hash FROM events f WHERE e.tenant_id = 'bank' AND e.session_id = '${s}' AND e.seq = 2 AND f.tenant_id = e.tenant_id AND f.session_id = e.session_id AND f.seq = 1` },
      { text: `UPDATE sessions SET head_hash = (SELECT hash FROM events WHERE tenant_id = 'bank' AND session_id = '${s}' AND seq = 2) WHERE tenant_id = 'bank' AND session_id = '${s}'` },
    ]);
    // The rewritten head is one no trusted key signed: refused before any event is opened.
    await expect(saver.getTuple(thread)).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
  });
});
