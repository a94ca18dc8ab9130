import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { tcpProxy } from '../support/tcp-proxy';
import { openVault, type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { createLogger } from '../../src/observability';
import { readPageRows, storageError } from '../../src/store';
import OpenAI from 'openai';
import { RecordedChat, UserMemory, VaultAgentSession } from '../../src/integrations/openai';
import { VaultCheckpointSaver } from '../../src/integrations/langgraph';
import { startFakeOpenAI } from '../support/fake-openai';
import { startService } from '../support/service';
import { runCli } from '../support/cli';

/**
 * The network or the server ends a connection under a statement: a reset (a firewall, a
 * load balancer's idle timeout, a failover), a backend an operator terminates. The vault
 * fails that call with STORAGE_UNAVAILABLE and why, the process lives (an 'error' event
 * nobody listens to would end it), nothing half-written stays, and the next calls get a
 * live connection. Through a TCP proxy on loopback that resets the connection as a chosen
 * statement crosses it. On a server only: the embedded store runs in the process, with no
 * connection to lose.
 */
afterAll(dropCreatedDatabases);

const servers = backends().filter((b) => b.name === 'postgres');
process.stderr.write('[connection-loss.test.ts] PGlite not run here: the embedded store runs in the process, with no connection to lose\n');

const unavailable = (why: string) => ({ code: 'STORAGE_UNAVAILABLE', message: expect.stringMatching(new RegExp(`^database unreachable while [a-z ]+ \\(${why}`)) });

/** `armed` settled within 10 s, or a failure that says which statement never came. */
const within = (armed: Promise<void>, why: string) =>
  Promise.race([armed, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(why)), 10_000).unref())]);

describe.each(servers)('a connection lost under a statement, on $name', (backend) => {
  let direct: Awaited<ReturnType<typeof testVault>>;
  let proxy: Awaited<ReturnType<typeof tcpProxy>>;
  let vault: Vault; // the same vault, through the proxy

  beforeAll(async () => {
    direct = await testVault(backend);
    await direct.vault.createTenant('bank');
    proxy = await tcpProxy(direct.url);
    vault = await openVault({ home: direct.home, database: proxy.url, logger: createLogger({ level: 'silent' }) });
  });
  afterAll(async () => {
    await vault.close();
    await proxy.close();
    await direct.close();
  });

  /** The types of a session's events, read back directly (not through the proxy). */
  const typesIn = async (session: string) => {
    const types: string[] = [];
    for await (const e of direct.vault.session('bank', session).events()) types.push(e.type);
    return types;
  };

  /** A recorded chat on the proxied vault whose one tool, `transfer`, calls `onTransfer` and reports 5,000 cents moved. */
  const transferChat = (baseURL: string, session: string, onTransfer: () => void) =>
    new RecordedChat({
      client: new OpenAI({ apiKey: 'test-key', baseURL, maxRetries: 0 }),
      session: vault.session('bank', session),
      model: 'gpt-4o-mini',
      logger: createLogger({ level: 'silent' }),
      tools: {
        transfer: {
          parameters: { type: 'object' },
          run: () => {
            onTransfer();
            return { moved: 5000 };
          },
        },
      },
    });

  it('a reset inside a tenant transaction fails typed with its cause; the next calls work', async () => {
    const reset = proxy.resetOn("set_config('vault.tenant'");
    await expect(vault.keys('bank')).rejects.toMatchObject(unavailable('ECONNRESET: connection reset by the server'));
    await within(reset, 'the statement never crossed the proxy');
    for (let i = 0; i < 3; i++) expect((await vault.keys('bank')).map((k) => k.version)).toEqual([1]);
  });

  it("a new connection reset under the statement that keeps its backend's heap fails the call that needed it typed; the next open works", async () => {
    // keepBackendHeap (store/postgres.ts) runs before the pool lends a new connection out;
    // its failure is the connection's, reported by the first statement that needed it.
    const reset = proxy.resetOn("repeat('x'");
    await expect(openVault({ home: direct.home, database: proxy.url, logger: createLogger({ level: 'silent' }) })).rejects.toMatchObject({
      code: 'STORAGE_UNAVAILABLE',
      message: expect.stringMatching(/^database unreachable while connecting to Postgres at 127\.0\.0\.1:\d+ \(connection lost\)$/),
    });
    await within(reset, 'the statement never crossed the proxy');
    const again = await openVault({ home: direct.home, database: proxy.url, logger: createLogger({ level: 'silent' }) });
    try {
      expect(await again.session('bank', 'after-heap-reset').append({ type: 'task', task: 'after' })).toMatchObject({ firstSeq: 1, lastSeq: 1 });
    } finally {
      await again.close();
    }
  });

  it('a batch whose COMMIT is lost fails typed and writes nothing; sent again, it lands whole and verifies', async () => {
    const s = vault.session('bank', 'big');
    await s.append({ type: 'task', task: 'before' });
    // Over 1,000 events: several statements in one transaction (append.ts, writeBatch). The
    // COMMIT never reaches the server, and drizzle's ROLLBACK on the dead connection fails too.
    const batch = Array.from({ length: 1001 }, (_, i) => ({ type: 'message' as const, role: 'user' as const, content: `m${i}` }));
    const reset = proxy.resetOn('commit');
    await expect(s.appendMany(batch)).rejects.toMatchObject(unavailable('connection lost'));
    await within(reset, 'the statement never crossed the proxy');
    expect(await direct.vault.session('bank', 'big').headSeq()).toBe(1);
    expect(await s.appendMany(batch)).toMatchObject({ appended: 1001, firstSeq: 2, lastSeq: 1002 });
    expect((await direct.vault.verify({ tenant: 'bank', session: 'big' })).ok).toBe(true);
  });

  it('an append whose answer is lost fails typed; sent again with its idempotency key, it is answered from what was stored, not appended twice', async () => {
    const s = vault.session('bank', 'lost-answer');
    const reset = proxy.resetOn('session_vault_append', { afterAnswer: true });
    await expect(s.append({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amountCents: 5000 }, idempotencyKey: 'transfer-1' })).rejects.toMatchObject(unavailable('ECONNRESET: connection reset by the server'));
    await within(reset, 'the statement never crossed the proxy');
    // It was committed: the server ran it before the answer was cut.
    expect(await direct.vault.session('bank', 'lost-answer').headSeq()).toBe(1);
    expect(await s.append({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amountCents: 5000 }, idempotencyKey: 'transfer-1' })).toMatchObject({ firstSeq: 1, lastSeq: 1, deduplicated: true });
    expect(await direct.vault.session('bank', 'lost-answer').headSeq()).toBe(1);
  });

  it('a group commit whose answer is lost fails every part typed, and writes no part twice', async () => {
    // Appends to different sessions in one tick go as one group statement (vault/group-commit.ts).
    // Opened first, so the four appends below reach the group commit in one tick. With both
    // of the tenant's statement slots free, the first group takes half of them, the second
    // the rest: two group statements, and the proxy cuts the answer of the first.
    const ids = ['g1', 'g2', 'g3', 'g4'];
    const sessions = ids.map((id) => vault.session('bank', id));
    for (const s of sessions) await s.append({ type: 'task', task: 'opened' });
    const reset = proxy.resetOn('session_vault_append_group', { afterAnswer: true });
    const results = await Promise.allSettled(sessions.map((s, i) => s.append({ type: 'tool_call', callId: `c${i}`, tool: 'transfer', input: { amountCents: 100 * (i + 1) } })));
    await within(reset, 'the group statement never crossed the proxy');
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed).toHaveLength(2);
    for (const r of failed) expect(r.reason).toMatchObject(unavailable('ECONNRESET: connection reset by the server'));
    // Every group was committed once: each session holds its transfer once, and still verifies.
    for (const id of ids) {
      expect(await typesIn(id)).toEqual(['task', 'tool_call']);
    }
    expect((await direct.vault.verify({ tenant: 'bank' })).ok).toBe(true);
  });

  it('a recorded chat turn whose tool moved money, its result\'s answer cut off, records the tool once and finishes', async () => {
    const fake = await startFakeOpenAI();
    try {
      let transfers = 0;
      let armed: Promise<void> | undefined;
      const chat = transferChat(fake.baseURL, 'chat', () => {
        transfers++;
        // The tool's result is the next append: the server commits it, its answer never arrives.
        armed = proxy.resetOn('session_vault_append', { afterAnswer: true });
      });
      fake.reply({ kind: 'tools', calls: [{ id: 'call_1', name: 'transfer', arguments: { amountCents: 5000 } }] }, { kind: 'text', text: 'Done.' });
      const turn = await chat.send('Move 50 EUR to savings');
      await within(armed!, 'the tool result never crossed the proxy');
      expect(turn).toMatchObject({ reply: 'Done.', rounds: 2, toolCalls: [{ callId: 'call_1', tool: 'transfer', isError: false }] });
      expect(transfers).toBe(1);
      expect(await typesIn('chat')).toEqual(['message', 'message', 'tool_call', 'tool_result', 'message']);
      expect((await direct.vault.verify({ tenant: 'bank', session: 'chat' })).ok).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it('a server that closes the connection in order under an append (a FIN, no reset) fails it typed; the next append lands', async () => {
    const s = vault.session('bank', 'fin');
    const closed = proxy.resetOn('session_vault_append', { close: true });
    await expect(s.append({ type: 'task', task: 'cut' })).rejects.toMatchObject(unavailable('connection lost'));
    await within(closed, 'the append never crossed the proxy');
    expect(await s.append({ type: 'task', task: 'after' })).toMatchObject({ firstSeq: 1 });
  });

  it('a recorded chat turn whose database stays down through every retry fails typed, with the tool run once and its call recorded', async () => {
    const fake = await startFakeOpenAI();
    try {
      let transfers = 0;
      let down: Promise<void> | undefined;
      const chat = transferChat(fake.baseURL, 'chat-down', () => {
        transfers++;
        // The result's append and its three retries (100, 400, 1,600 ms) are each reset.
        down = proxy.resetOn('session_vault_append', { times: 4 });
      });
      fake.reply({ kind: 'tools', calls: [{ id: 'call_1', name: 'transfer', arguments: { amountCents: 5000 } }] }, { kind: 'text', text: 'Done.' });
      await expect(chat.send('Move 50 EUR to savings')).rejects.toMatchObject(unavailable('ECONNRESET: connection reset by the server'));
      await within(down!, 'the four appends never crossed the proxy');
      expect(transfers).toBe(1);
      expect(await typesIn('chat-down')).toEqual(['message', 'message', 'tool_call']);
    } finally {
      await fake.close();
    }
  });

  it("an Agents SDK run whose tool moved money, the items' answer cut off, stores the turn's items once and finishes", async () => {
    const fake = await startFakeOpenAI();
    try {
      const { Agent, run, tool, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled } = await import('@openai/agents');
      const { z } = await import('zod');
      setTracingDisabled(true);
      setDefaultOpenAIClient(new OpenAI({ apiKey: 'test-key', baseURL: fake.baseURL, maxRetries: 0 }) as never);
      setOpenAIAPI('responses');
      let transfers = 0;
      let armed: Promise<void> | undefined;
      const transfer = tool({
        name: 'transfer',
        description: 'Move money',
        parameters: z.object({ amountCents: z.number() }),
        execute: async ({ amountCents }) => {
          transfers++;
          // The SDK stores the turn's items next: the server commits them, the answer never arrives.
          armed = proxy.resetOn('session_vault_append', { afterAnswer: true });
          return `moved ${amountCents}`;
        },
      });
      const agent = new Agent({ name: 'teller', instructions: 'Be brief.', model: 'gpt-4.1-mini', tools: [transfer] });
      fake.reply({ kind: 'tools', calls: [{ id: 'call_1', name: 'transfer', arguments: { amountCents: 5000 } }] }, { kind: 'text', text: 'Done.' });
      const result = await run(agent, 'Move 50 EUR to savings', { session: new VaultAgentSession(vault.session('bank', 'agents')) });
      await within(armed!, 'the items never crossed the proxy');
      expect(result.finalOutput).toBe('Done.');
      expect(transfers).toBe(1);
      const stored = new VaultAgentSession(direct.vault.session('bank', 'agents'));
      expect((await stored.getItems()).map((i: any) => i.type ?? 'message')).toEqual(['message', 'function_call', 'function_call_result', 'message']);
      expect((await direct.vault.verify({ tenant: 'bank', session: 'agents' })).ok).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it("an Agents SDK popItem whose answer is cut off retracts one item, not two", async () => {
    const s = new VaultAgentSession(vault.session('bank', 'agents-pop'));
    await s.addItems([{ role: 'user', content: 'one' }, { role: 'user', content: 'two' }, { role: 'user', content: 'three' }] as never);
    const reset = proxy.resetOn('session_vault_append', { afterAnswer: true });
    expect(await s.popItem()).toEqual({ role: 'user', content: 'three' });
    await within(reset, 'the retraction never crossed the proxy');
    expect(await new VaultAgentSession(direct.vault.session('bank', 'agents-pop')).getItems()).toEqual([
      { role: 'user', content: 'one' },
      { role: 'user', content: 'two' },
    ]);
  });

  it('a remembered fact whose answer is cut off is stored once', async () => {
    const reset = proxy.resetOn('session_vault_append', { afterAnswer: true });
    const fact = await new UserMemory(vault, 'bank').remember('cust-7', 'prefers German', 0.9);
    await within(reset, 'the fact never crossed the proxy');
    expect(await new UserMemory(direct.vault, 'bank').facts('cust-7')).toEqual([fact]);
    expect(await direct.vault.session('bank', 'memory:cust-7:g1').headSeq()).toBe(1);
  });

  it('a LangGraph run whose transfer node moved money, its checkpoint answers cut off, stores each checkpoint and write once and finishes', async () => {
    const { StateGraph, Annotation, START, END } = await import('@langchain/langgraph');
    const saver = new VaultCheckpointSaver({ vault, tenant: 'bank' });
    let transfers = 0;
    let armed: Promise<void> | undefined;
    const State = Annotation.Root({ moved: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }) });
    const graph = new StateGraph(State)
      .addNode('transfer', () => {
        transfers++;
        // The node's writes and the checkpoint after it are the next appends: each is
        // committed, and each answer is cut off.
        armed = proxy.resetOn('session_vault_append', { afterAnswer: true, times: 2 });
        return { moved: 25_000 };
      })
      .addEdge(START, 'transfer')
      .addEdge('transfer', END)
      .compile({ checkpointer: saver });
    const config = { configurable: { thread_id: 'claim-cut' } };
    expect(await graph.invoke({ moved: 0 }, config)).toEqual({ moved: 25_000 });
    await within(armed!, 'the checkpoints never crossed the proxy');
    expect(transfers).toBe(1);
    // Read back through the database directly: no checkpoint and no task's writes twice.
    const checkpoints: string[] = [];
    const writes: string[] = [];
    for await (const e of direct.vault.session('bank', saver.sessionOf('claim-cut')).events()) {
      if (e.type === 'graph_checkpoint') checkpoints.push(e.data.checkpointId as string);
      if (e.type === 'graph_writes') writes.push(`${e.data.checkpointId as string}/${e.data.taskId as string}`);
    }
    expect(new Set(checkpoints).size).toBe(checkpoints.length);
    expect(new Set(writes).size).toBe(writes.length);
    const again = new StateGraph(State).addNode('transfer', () => ({ moved: 0 })).addEdge(START, 'transfer').addEdge('transfer', END).compile({ checkpointer: new VaultCheckpointSaver({ vault: direct.vault, tenant: 'bank' }) });
    expect((await again.getState(config)).values).toEqual({ moved: 25_000 });
    expect((await direct.vault.verify({ tenant: 'bank', session: saver.sessionOf('claim-cut') })).ok).toBe(true);
  });

  it('a CLI import whose answer is cut off exits 4; run again with the same --idempotency-key, it stores nothing twice', async () => {
    const file = path.join(direct.home, 'history.json');
    writeFileSync(file, JSON.stringify([{ role: 'user', content: 'Move 50 EUR' }, { role: 'assistant', content: 'Done.' }]));
    const args = ['import', 'bank', 'cli-import', file, '--format', 'openai-messages', '--idempotency-key', 'ticket-9'];
    const env = { VAULT_HOME: direct.home, VAULT_DATABASE_URL: proxy.url };
    const reset = proxy.resetOn('session_vault_append', { afterAnswer: true });
    const cut = await runCli(env, args);
    await within(reset, 'the import never crossed the proxy');
    expect(cut.code).toBe(4);
    expect(cut.stderr).toMatch(/^error\[STORAGE_UNAVAILABLE\]: database unreachable while appending events/);
    expect(await direct.vault.session('bank', 'cli-import').headSeq()).toBe(2); // committed, the answer lost
    const again = await runCli(env, args);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^already imported under this idempotency key: 2 event/);
    expect(await direct.vault.session('bank', 'cli-import').headSeq()).toBe(2);
  });

  it('a reset mid-COPY (a full read) fails typed with its cause; the next reads work', async () => {
    await vault.session('bank', 'reset').append({ type: 'task', task: 'after the reset' });
    const reset = proxy.resetOn('session_vault_read_page_rows');
    await expect(readPageRows(storeOf(vault).copyRows!, 'bank', 'reset', 0, 10)).rejects.toMatchObject(unavailable('ECONNRESET: connection reset by the server'));
    await within(reset, 'the statement never crossed the proxy');
    const read = async () => {
      const seqs: number[] = [];
      for await (const e of vault.session('bank', 'reset').events()) seqs.push(e.seq);
      return seqs;
    };
    for (let i = 0; i < 3; i++) expect(await read()).toEqual([1]);
  });

  it('a backend the operator terminates mid-COPY fails typed (57P01); the next reads work', async () => {
    await vault.session('bank', 'cut').append({ type: 'task', task: 'after the cut' });
    // A COPY that lasts, so the owner finds it running.
    const failed = storeOf(vault).copyRows!('SELECT 1 FROM pg_sleep(5)').then(
      () => undefined,
      (e: unknown) => e,
    );
    // As the owner, on a connection of its own: end the backend that serves the COPY.
    const owner = new Client({ connectionString: direct.url });
    await owner.connect();
    try {
      for (let ended = 0; ended === 0; ) {
        const rows = (await owner.query("SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'COPY (SELECT 1 FROM pg_sleep(5))%'")).rows as { ended: boolean }[];
        ended = rows.filter((r) => r.ended).length;
        if (ended === 0) await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      await owner.end();
    }
    expect(storageError(await failed, 'reading events')).toMatchObject(unavailable('57P01'));
    for (let i = 0; i < 3; i++) expect((await readPageRows(storeOf(vault).copyRows!, 'bank', 'cut', 0, 10)).map((r) => r.seq)).toEqual([1]);
  });
});

describe.each(servers)('the HTTP service over a connection lost under a statement, on $name', (backend) => {
  it('answers a cut append 503 and lives; the retry with the same Idempotency-Key stores it once; /readyz says so while the store fails', async () => {
    const database = await backend.database();
    const proxy = await tcpProxy(database);
    const svc = await startService(backend, { tokenCacheMs: 0 }, { database: proxy.url });
    try {
      await svc.vault.createTenant('acme');
      const { token } = await svc.token('acme', 'writer');
      const body = { events: [{ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amountCents: 5000 } }] };
      const path = '/v1/tenants/acme/sessions/http/events';
      // The server commits the append; its answer never reaches the service.
      const reset = proxy.resetOn('session_vault_append', { afterAnswer: true });
      const cut = await svc.call(token, 'POST', path, body, { 'idempotency-key': 'transfer-9' });
      await within(reset, 'the append never crossed the proxy');
      expect(cut.status).toBe(503);
      expect(cut.json).toMatchObject({ error: { code: 'STORAGE_UNAVAILABLE', message: 'database unreachable while appending events (ECONNRESET: connection reset by the server)' } });
      const again = await svc.call(token, 'POST', path, body, { 'idempotency-key': 'transfer-9' });
      expect(again.status).toBe(200);
      expect(again.json).toMatchObject({ firstSeq: 1, lastSeq: 1, deduplicated: true });
      expect((await svc.vault.sessionInfo('acme', 'http')).events).toBe(1);
      // Readiness: 503 while the store fails, ready again after.
      const down = proxy.resetOn('session_vault_tenants()');
      const ready = await fetch(`${svc.url}/readyz`);
      await within(down, 'the readiness query never crossed the proxy');
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'store unavailable' });
      expect(await (await fetch(`${svc.url}/readyz`)).json()).toEqual({ status: 'ready' });
    } finally {
      await svc.close();
      await proxy.close();
    }
  });
});
