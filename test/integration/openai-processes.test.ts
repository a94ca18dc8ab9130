import { spawn } from 'node:child_process';
import path from 'node:path';
import { backends, dropCreatedDatabases, tempHome, type Backend } from '../support/backends';
import { runCli } from '../support/cli';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai';
import { openVault } from '../../src/vault';
import { createLogger } from '../../src/observability';

/**
 * Resume after restart, as the tutorials show it: a conversation in one process, the
 * process ends, a new process continues the same session, and the model is sent the
 * earlier turns. Once with the OpenAI Agents SDK runner and the vault as its Session,
 * once with `session-vault chat`. The model is a loopback stand-in; nothing leaves the machine.
 */
afterAll(dropCreatedDatabases);

const WORKER = path.join(__dirname, '..', 'support', 'agent-worker.js');

function runWorker(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WORKER, ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.each(backends())('resuming a conversation in a new process on $name', (backend: Backend) => {
  let fake: FakeOpenAI;
  let home: string;
  let db: string;
  let cleanup: () => void;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    ({ home, cleanup } = await tempHome());
    db = backend.name === 'pglite' ? '-' : await backend.database();
    const v = await openVault({ home, database: db === '-' ? undefined : db, logger: createLogger({ level: 'silent' }) });
    await v.createTenant('bank');
    await v.close();
  });
  afterAll(async () => {
    await fake.close();
    cleanup();
  });

  it('Agents SDK run with the vault session, twice in two processes: the second run sends the first run’s items', async () => {
    fake.reply({ kind: 'text', text: 'Your card is blocked now.' });
    const first = await runWorker([home, db, 'bank', 'agent-s', fake.baseURL, 'Block my card, please.']);
    expect(first.stderr).toBe('');
    expect(JSON.parse(first.stdout)).toEqual({ finalOutput: 'Your card is blocked now.' });
    fake.reply({ kind: 'text', text: 'You asked me to block your card.' });
    const second = await runWorker([home, db, 'bank', 'agent-s', fake.baseURL, 'What did I ask you before?']);
    expect(JSON.parse(second.stdout)).toEqual({ finalOutput: 'You asked me to block your card.' });

    const calls = fake.requests.filter((r) => r.path.endsWith('/responses'));
    expect(calls).toHaveLength(2);
    const text = (item: any) => (typeof item.content === 'string' ? item.content : item.content.map((p: any) => p.text).join(''));
    expect(calls[1]!.body.input.map((i: any) => [i.role, text(i)])).toEqual([
      ['user', 'Block my card, please.'],
      ['assistant', 'Your card is blocked now.'],
      ['user', 'What did I ask you before?'],
    ]);
    // In the vault: the items, encrypted and chained, and replay shows the conversation.
    const v = await openVault({ home, database: db === '-' ? undefined : db, logger: createLogger({ level: 'silent' }) });
    try {
      const state = await v.session('bank', 'agent-s').state();
      expect(state.agentItems).toHaveLength(4);
      expect(state.messages.map((m) => [m.role, m.content])).toEqual([
        ['user', 'Block my card, please.'],
        ['assistant', 'Your card is blocked now.'],
        ['user', 'What did I ask you before?'],
        ['assistant', 'You asked me to block your card.'],
      ]);
      expect((await v.verify()).ok).toBe(true);
    } finally {
      await v.close();
    }
  }, 120_000);

  it('session-vault chat: a second process continues the conversation; without a key it exits 2', async () => {
    const env: Record<string, string> = { VAULT_HOME: home, OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: fake.baseURL, OPENAI_MODEL: 'gpt-4o-mini', VAULT_ACTOR: 'ops-carol' };
    if (db !== '-') env.VAULT_DATABASE_URL = db;
    // chat is operator access: without an actor it is refused before any history is read or sent.
    const { VAULT_ACTOR: _actor, ...anonymous } = env;
    const beforeAnonymous = fake.requests.length;
    const refused = await runCli(anonymous, ['chat', 'bank', 'chat-s'], 'Hi there\n');
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toMatch(/^error\[ACTOR_REQUIRED\]/);
    expect(fake.requests.length).toBe(beforeAnonymous);
    fake.reply({ kind: 'text', text: 'Hello! How can I help?' });
    const first = await runCli(env, ['chat', 'bank', 'chat-s', '--system', 'Be brief.'], 'Hi there\n');
    expect(first.code).toBe(0);
    expect(first.stdout).toBe('Hello! How can I help?\n');
    fake.reply({ kind: 'text', text: 'You said hi.' });
    const before = fake.requests.length;
    const second = await runCli(env, ['chat', 'bank', 'chat-s', '--system', 'Be brief.'], 'What did I say?\n/exit\n');
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('You said hi.\n');
    expect(fake.requests[before]!.body).toMatchObject({
      model: 'gpt-4o-mini',
      stream: true,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi there' },
        { role: 'assistant', content: 'Hello! How can I help?' },
        { role: 'user', content: 'What did I say?' },
      ],
    });
    // A model failure is reported, recorded, and the exit code says so (the client retries twice first).
    const overloaded = { kind: 'error' as const, status: 503, message: 'overloaded' };
    fake.reply(overloaded, overloaded, overloaded);
    const failing = await runCli(env, ['chat', 'bank', 'chat-s'], 'Still there?\n');
    expect(failing.code).toBe(4);
    expect(failing.stderr).toMatch(/error\[MODEL_UNAVAILABLE\]: the model call failed \(HTTP 503\)/);
    const badContext = await runCli(env, ['chat', 'bank', 'chat-s', '--context', 'window'], 'hello\n');
    expect(badContext.code).toBe(2);
    expect(badContext.stderr.trim()).toBe('error[INVALID_INPUT]: --context is full, window:N or summary:N');
    const noKey = await runCli({ VAULT_HOME: home, ...(db !== '-' ? { VAULT_DATABASE_URL: db } : {}) }, ['chat', 'bank', 'chat-s'], 'hello\n');
    expect(noKey.code).toBe(2);
    expect(noKey.stderr.trim()).toBe('error[OPENAI_KEY_MISSING]: chat needs an OpenAI API key: set OPENAI_API_KEY (and OPENAI_BASE_URL for an OpenAI-compatible server)');
    const v = await openVault({ home, database: db === '-' ? undefined : db, logger: createLogger({ level: 'silent' }) });
    try {
      const state = await v.session('bank', 'chat-s').state();
      expect(state.messages.map((m) => m.content)).toEqual(['Hi there', 'Hello! How can I help?', 'What did I say?', 'You said hi.', 'Still there?']);
      expect(state.modelErrors).toEqual([expect.objectContaining({ status: 503 })]);
      // Each chat run was recorded first, naming the operator and where the history went.
      const trail = [];
      for await (const r of v.accessLog({ tenant: 'bank' })) if (r.action.startsWith('chat:')) trail.push([r.actor, r.action, r.session, r.outcome]);
      const host = new URL(fake.baseURL).host;
      expect(trail.slice(0, 3)).toEqual([
        ['ops-carol', `chat:${host}`, 'chat-s', 'granted'],
        ['ops-carol', `chat:${host}`, 'chat-s', 'granted'],
        ['ops-carol', `chat:${host}`, 'chat-s', 'granted'],
      ]);
    } finally {
      await v.close();
    }
  }, 120_000);
});
