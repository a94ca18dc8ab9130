import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { Client } from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { backends, dropCreatedDatabases, type Backend } from '../support/backends';
import { runCli } from '../support/cli';

/** The CLI as a user runs it: a real process of the built bin, stdin, stdout, stderr, exit code. */
afterAll(dropCreatedDatabases);

const cli = runCli;

const ndjson = (...events: unknown[]) => events.map((e) => JSON.stringify(e)).join('\n') + '\n';

describe.each(backends())('the CLI on $name', (backend: Backend) => {
  let env: Record<string, string>;
  let home: string;
  const run = (args: string[], stdin?: string) => cli(env, args, stdin);
  const eventCount = async (tenant: string, session: string) => {
    const r = await run(['sessions', tenant, '--json']);
    return (JSON.parse(r.stdout) as { session: string; events: number }[]).find((s) => s.session === session)?.events ?? 0;
  };

  beforeAll(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), 'sv-cli-'));
    env = { VAULT_HOME: home, VAULT_ACTOR: 'test-operator' };
    if (backend.name === 'postgres') env.VAULT_DATABASE_URL = await backend.database();
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('init creates the home, a 0600 keyring and the database, and is idempotent', async () => {
    const first = await run(['init', '--json']);
    expect(first.code).toBe(0);
    const doc = JSON.parse(first.stdout);
    expect(doc).toMatchObject({ home, keyring: path.join(home, 'keyring.json'), created: true });
    expect(typeof doc.database).toBe('string');
    expect(statSync(path.join(home, 'keyring.json')).mode & 0o777).toBe(0o600);
    const keyring = readFileSync(path.join(home, 'keyring.json'), 'utf8');
    const again = await run(['init', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).created).toBe(false);
    expect(readFileSync(path.join(home, 'keyring.json'), 'utf8')).toBe(keyring);
  });

  it('creates and lists tenants', async () => {
    expect((await run(['tenant', 'create', 'acme'])).code).toBe(0);
    const list = await run(['tenant', 'list', '--json']);
    expect(JSON.parse(list.stdout).map((t: { tenant: string }) => t.tenant)).toEqual(['acme']);
    const dup = await run(['tenant', 'create', 'acme']);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/^error\[TENANT_EXISTS\]: /);
  });

  it('appends NDJSON atomically and reads it back as events, replay and verify', async () => {
    const r = await run(
      ['append', 'acme', 'sess-1', '--json', '--agent', 'teller', '--correlation-id', 'corr-9'],
      ndjson(
        { type: 'message', role: 'user', content: 'balance?' },
        { type: 'tool_call', callId: 'c1', tool: 'balance', input: { acct: 1 } },
        { type: 'tool_result', callId: 'c1', output: { usd: 10 }, durationMs: 5 },
      ),
    );
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ tenant: 'acme', session: 'sess-1', appended: 3, firstSeq: 1, lastSeq: 3 });
    expect(out.head).toMatch(/^[0-9a-f]{64}$/);

    const one = await run(['append', 'acme', 'sess-1', '--json', '--event', '{"type":"task","task":"answer"}']);
    expect(JSON.parse(one.stdout)).toMatchObject({ firstSeq: 4, lastSeq: 4 });

    const events = await run(['events', 'acme', 'sess-1', '--json']);
    expect(events.code).toBe(0);
    const lines = events.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.seq, l.type, l.correlationId])).toEqual([
      [1, 'message', 'corr-9'],
      [2, 'tool_call', 'corr-9'],
      [3, 'tool_result', 'corr-9'],
      [4, 'task', expect.any(String)],
    ]);
    expect(lines[0]).toEqual({ seq: 1, type: 'message', correlationId: 'corr-9', at: expect.any(String), data: { role: 'user', content: 'balance?' } });
    const from = await run(['events', 'acme', 'sess-1', '--json', '--from-seq', '3']);
    expect(from.stdout.trim().split('\n')).toHaveLength(2);

    const replay = await run(['replay', 'acme', 'sess-1', '--json']);
    expect(JSON.parse(replay.stdout)).toMatchObject({
      tenant: 'acme',
      session: 'sess-1',
      agent: 'teller',
      lastSeq: 4,
      currentTask: 'answer',
      toolCalls: [{ callId: 'c1', tool: 'balance', input: { acct: 1 }, output: { usd: 10 }, durationMs: 5, isError: false }],
    });
    const earlier = await run(['replay', 'acme', 'sess-1', '--json', '--at-seq', '1']);
    expect(JSON.parse(earlier.stdout)).toMatchObject({ lastSeq: 1, toolCalls: [] });
    const windowed = await run(['replay', 'acme', 'sess-1', '--json', '--window', '1']);
    expect(JSON.parse(windowed.stdout)).toMatchObject({ lastSeq: 4, currentTask: 'answer', window: { size: 1 } });

    const sessions = await run(['sessions', 'acme', '--json']);
    expect(JSON.parse(sessions.stdout)).toEqual([{ session: 'sess-1', agent: 'teller', events: 4, firstAt: expect.any(String), lastAt: expect.any(String), status: 'active' }]);

    const verify = await run(['verify', '--json']);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toEqual({ ok: true, sessions: 1, events: 4, problems: [] });
    expect((await run(['verify', 'acme', 'sess-1'])).stdout).toMatch(/^OK: 1 session\(s\), 4 event\(s\)/);
  });

  it.each([
    ['a malformed NDJSON line', ['append', 'acme', 'sess-1'], ndjson({ type: 'task', task: 'ok' }) + '{oops\n', /^error\[INVALID_EVENT\]: line 2: not valid JSON$/],
    ['an unknown type', ['append', 'acme', 'sess-1'], ndjson({ type: 'task', task: 'ok' }, { type: 'memo' }), /^error\[INVALID_EVENT\]: line 2: type: /],
    ['an unknown field', ['append', 'acme', 'sess-1'], ndjson({ type: 'task', task: 'ok', secret: 1 }), /^error\[INVALID_EVENT\]: line 1: secret: unknown field$/],
    ['a missing field', ['append', 'acme', 'sess-1'], ndjson({ type: 'message', role: 'user' }), /^error\[INVALID_EVENT\]: line 1: content: required field missing$/],
    ['oversize content', ['append', 'acme', 'sess-1'], ndjson({ type: 'message', role: 'user', content: 'x'.repeat(1_100_000) }), /^error\[INVALID_EVENT\]: line 1: event is \d+ bytes, over the limit/],
    ['an invalid tenant id', ['append', 'ACME!', 'sess-1'], ndjson({ type: 'task', task: 'x' }), /^error\[INVALID_ID\]: invalid tenant id/],
    ['an invalid session id', ['append', 'acme', 'bad session'], ndjson({ type: 'task', task: 'x' }), /^error\[INVALID_ID\]: invalid session id/],
    ['an unknown tenant', ['append', 'nobody', 'sess-1'], ndjson({ type: 'task', task: 'x' }), /^error\[UNKNOWN_TENANT\]: unknown tenant nobody/],
    ['a bad --at-seq', ['replay', 'acme', 'sess-1', '--at-seq', 'soon'], undefined, /^error\[INVALID_INPUT\]: --at-seq/],
    ['a bad --window', ['replay', 'acme', 'sess-1', '--window', '0'], undefined, /^error\[INVALID_INPUT\]: --window/],
    ['an unknown flag', ['events', 'acme', 'sess-1', '--colour'], undefined, /^error\[USAGE\]: unknown option/],
  ])('refuses %s with exit 2 and stores nothing', async (_label, args, stdin, message) => {
    const before = await eventCount('acme', 'sess-1');
    const r = await run(args, stdin);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace without --debug
    expect(r.stdout).toBe('');
    expect(await eventCount('acme', 'sess-1')).toBe(before);
  });

  describe('with a bad keyring', () => {
    const keyringPath = () => path.join(home, 'keyring.json');
    let saved: string;
    beforeEach(() => (saved = readFileSync(keyringPath(), 'utf8')));
    afterEach(() => {
      rmSync(keyringPath(), { force: true });
      writeFileSync(keyringPath(), saved, { mode: 0o600 });
    });

    it('exits 3 when the keyring is readable by others', async () => {
      chmodSync(keyringPath(), 0o644);
      const r = await run(['events', 'acme', 'sess-1']);
      expect(r.code).toBe(3);
      expect(r.stderr.trim()).toMatch(/^error\[KEYRING_INSECURE\]: keyring at .* has mode 644/);
    });

    it('exits 3 when the keyring is truncated', async () => {
      writeFileSync(keyringPath(), saved.slice(0, 40), { mode: 0o600 });
      const r = await run(['replay', 'acme', 'sess-1']);
      expect(r.code).toBe(3);
      expect(r.stderr.trim()).toMatch(/^error\[KEYRING_INVALID\]: .*not valid JSON/);
    });

    it('exits 3 when the keyring holds the wrong master key', async () => {
      rmSync(keyringPath());
      const other = mkdtempSync(path.join(os.tmpdir(), 'sv-other-'));
      expect((await cli({ VAULT_HOME: other, VAULT_DATABASE_URL: 'memory://' }, ['init'])).code).toBe(0);
      writeFileSync(keyringPath(), readFileSync(path.join(other, 'keyring.json')), { mode: 0o600 });
      rmSync(other, { recursive: true, force: true });
      const r = await run(['events', 'acme', 'sess-1']);
      expect(r.code).toBe(3);
      expect(r.stderr.trim()).toBe('error[DECRYPTION_FAILED]: decryption failed');
    });

    it('exits 3 when the keyring is missing, and does not create one', async () => {
      rmSync(keyringPath());
      const r = await run(['events', 'acme', 'sess-1']);
      expect(r.code).toBe(3);
      expect(r.stderr.trim()).toMatch(/^error\[KEYRING_MISSING\]/);
      expect(() => statSync(keyringPath())).toThrow();
    });
  });

  it('verify needs no keyring, and exits 1 naming a tampered event', async () => {
    const noKeys = { ...env, VAULT_KEYRING: path.join(home, 'absent.json') };
    expect((await cli(noKeys, ['verify'])).code).toBe(0);
    const tamper = `UPDATE events SET correlation_id = 'forged' WHERE tenant_id = 'acme' AND session_id = 'sess-1' AND seq = 2`;
    if (backend.name === 'postgres') {
      const c = new Client({ connectionString: env.VAULT_DATABASE_URL, options: '-c search_path=session_vault' });
      await c.connect();
      await c.query('SET session_replication_role = replica');
      await c.query(tamper);
      await c.end();
    } else {
      const db = new PGlite(path.join(home, 'db'));
      await db.exec(`SET search_path TO session_vault; SET session_replication_role = replica; ${tamper}`);
      await db.close();
    }
    const r = await cli(noKeys, ['verify', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, problems: [{ tenant: 'acme', session: 'sess-1', seq: 2, kind: 'hash_mismatch' }] });
    expect((await cli(noKeys, ['verify'])).stdout).toMatch(/INTEGRITY PROBLEMS[\s\S]*acme\/sess-1 seq 2: hash_mismatch/);
  });

  if (backend.name === 'pglite') {
    it('a second process on the embedded store waits, then fails clearly with exit 4', async () => {
      const holder = spawn(
        process.execPath,
        ['-e', `require(${JSON.stringify(path.join(__dirname, '..', '..', 'dist'))}).openVault({ home: ${JSON.stringify(home)}, logLevel: 'silent' }).then(() => { process.stdout.write('open\\n'); setTimeout(() => process.exit(0), 60000); })`],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve) => holder.stdout!.on('data', () => resolve()));
      try {
        const started = Date.now();
        const r = await run(['tenant', 'list', '--lock-timeout', '2']);
        expect(r.code).toBe(4);
        expect(r.stderr.trim()).toMatch(/^error\[STORE_LOCKED\]: the embedded store .* is in use by another process; gave up after 2 s/);
        expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
      } finally {
        holder.kill('SIGTERM');
      }
    });
  }

  it('imports a chat history file atomically and exports it back', async () => {
    const history = [
      { role: 'user', content: 'Block my card' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c9', type: 'function', function: { name: 'block_card', arguments: '{"last4":"4242"}' } }] },
      { role: 'tool', tool_call_id: 'c9', content: 'blocked' },
      { role: 'assistant', content: 'Done: the card ending 4242 is blocked.' },
    ];
    const file = path.join(home, 'agent_memory.json');
    writeFileSync(file, JSON.stringify(history));
    const r = await run(['import', 'acme', 'imported', file, '--format', 'openai-messages', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ imported: 6, firstSeq: 1, lastSeq: 6 });
    const back = await run(['events', 'acme', 'imported', '--format', 'openai-messages']);
    expect(JSON.parse(back.stdout)).toEqual(history);

    const bad = path.join(home, 'bad.json');
    writeFileSync(bad, JSON.stringify([{ role: 'user', content: 'fine' }, { role: 'user' }]));
    const refused = await run(['import', 'acme', 'never', bad, '--format', 'openai-messages']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe('error[INVALID_EVENT]: message 2: content: required (only an assistant message with tool_calls may omit it)');
    expect(await eventCount('acme', 'never')).toBe(0);
    expect((await run(['import', 'acme', 'never', bad, '--format', 'csv'])).code).toBe(2);
  });

  it('imports and appends again under the same --idempotency-key without storing anything twice; refuses a bad key, storing nothing', async () => {
    const file = path.join(home, 'retried.json');
    writeFileSync(file, JSON.stringify([{ role: 'user', content: 'Move 50 EUR' }, { role: 'assistant', content: 'Done.' }]));
    const first = await run(['import', 'acme', 'retried', file, '--format', 'openai-messages', '--idempotency-key', 'ticket-77', '--json']);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ imported: 2, firstSeq: 1, lastSeq: 2, deduplicated: false });
    const again = await run(['import', 'acme', 'retried', file, '--format', 'openai-messages', '--idempotency-key', 'ticket-77']);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe('already imported under this idempotency key: 2 event(s) in acme/retried, seq 1..2; nothing new stored');
    const line = ndjson({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amountCents: 5000 } });
    expect(JSON.parse((await run(['append', 'acme', 'retried', '--idempotency-key', 'transfer-1', '--json'], line)).stdout)).toMatchObject({ firstSeq: 3, deduplicated: false });
    expect(JSON.parse((await run(['append', 'acme', 'retried', '--idempotency-key', 'transfer-1', '--json'], line)).stdout)).toMatchObject({ firstSeq: 3, deduplicated: true });
    expect(await eventCount('acme', 'retried')).toBe(3);
    for (const bad of ['', 'x'.repeat(101), 'tab\there']) {
      const refused = await run(['append', 'acme', 'retried', '--idempotency-key', bad], line);
      expect(refused.code).toBe(2);
      expect(refused.stderr.trim()).toBe('error[INVALID_INPUT]: an idempotency key is 1..100 printable ASCII characters');
    }
    expect(await eventCount('acme', 'retried')).toBe(3);
  });

  it('prints help and the version with exit 0', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: session-vault/);
    expect((await run(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('demo', () => {
  it('runs a scripted conversation offline on the embedded default and verifies it', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-demo-'));
    try {
      const r = await cli({ VAULT_HOME: home }, ['demo', '--json']);
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.verify).toMatchObject({ ok: true, sessions: 1, problems: [] });
      expect(doc.state.toolCalls.map((c: { tool: string }) => c.tool)).toEqual(['lookup_policy', 'verify_identity', 'open_claim']);
      expect(doc.state.worldState).toMatchObject({ claim: { id: 'CLM-88231' } });
      expect(statSync(path.join(home, 'keyring.json')).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
