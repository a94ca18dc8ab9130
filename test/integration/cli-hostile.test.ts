import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { BIN, runCli } from '../support/cli';
import { adminUrl, backends, dropCreatedDatabases } from '../support/backends';

/**
 * The CLI against input chosen to break it and against mistakes an auditor makes: each
 * gets a typed error with the contract's exit code and changes nothing; read-only
 * commands never create a store; content never reaches a terminal raw.
 */
afterAll(dropCreatedDatabases);

const ESC = '\u001b';

describe.each(backends())('the CLI under hostile input on $name', (backend) => {
  let home: string;
  let env: Record<string, string>;
  const run = (args: string[], stdin = '') => runCli(env, args, stdin);

  beforeAll(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), 'sv-hostile-'));
    env = { VAULT_HOME: home, VAULT_ACTOR: 'tester', ...(backend.name === 'postgres' ? { VAULT_DATABASE_URL: await backend.database() } : {}) };
    expect((await run(['init'])).code).toBe(0);
    expect((await run(['tenant', 'create', 'bank'])).code).toBe(0);
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it.each([
    ['5000-deep JSON', `{"type":"tool_call","callId":"c","tool":"t","input":${'['.repeat(5000)}${']'.repeat(5000)}}`, /nested deeper than 64/],
    ['a NUL in a tool name', JSON.stringify({ type: 'tool_call', callId: 'c', tool: 'a\u0000b', input: {} }), /tool: control characters/],
    ['a __proto__ member', '{"type":"tool_call","callId":"c","tool":"t","input":{"__proto__":{"x":1}}}', /__proto__.*not allowed/],
  ])('refuses %s with exit 2 and stores nothing', async (_label, line, message) => {
    const r = await run(['append', 'bank', 'hostile'], line + '\n');
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error\[INVALID_EVENT\]/);
    expect(r.stderr).toMatch(message);
    expect((await run(['sessions', 'bank', '--json'])).stdout).not.toContain('hostile');
  });

  it('escapes terminal control characters in human output and keeps --json exact', async () => {
    const content = `hello ${ESC}]0;pwned${'\u0007'}${ESC}[2J\nforged line`;
    const events = [{ type: 'message', role: 'user', content }, { type: 'task', task: `${ESC}[31mred` }].map((e) => JSON.stringify(e)).join('\n');
    expect((await run(['append', 'bank', 'ansi', '--agent', 'agent'], events + '\n')).code).toBe(0);
    for (const args of [['replay', 'bank', 'ansi'], ['events', 'bank', 'ansi']]) {
      const r = await run(args);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain(ESC);
      expect(r.stdout).not.toContain('\u0007');
      expect(r.stdout).toContain('\\u001b');
      expect(r.stdout.split('\n').some((l) => l.startsWith('forged line'))).toBe(false);
    }
    const exact = await run(['events', 'bank', 'ansi', '--json']);
    expect(JSON.parse(exact.stdout.trim().split('\n')[0]!).data.content).toBe(content);
    const agentEscape = await run(['append', 'bank', 'ansi2', '--agent', `x${ESC}[2J`], '{"type":"task","task":"t"}\n');
    expect(agentEscape.code).toBe(2);
  });

  if (backend.name === 'postgres') {
    it('export of a session a DBA damaged writes the marked bundle, warns and exits 1', async () => {
      expect((await run(['append', 'bank', 'cut'], '{"type":"task","task":"a"}\n{"type":"task","task":"b"}\n')).code).toBe(0);
      const c = new Client({ connectionString: env.VAULT_DATABASE_URL, options: '-c search_path=session_vault' });
      await c.connect();
      try {
        await c.query('SET session_replication_role = replica');
        await c.query(`DELETE FROM events WHERE tenant_id = 'bank' AND session_id = 'cut' AND seq = 2`);
        await c.query(`DELETE FROM checkpoints WHERE tenant_id = 'bank' AND session_id = 'cut' AND seq = 2`);
      } finally {
        await c.end();
      }
      const file = path.join(home, 'cut.json');
      const r = await run(['export', 'bank', 'cut', '--out', file]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toMatch(/^warning: bank\/cut fails verification \(missing_tail.*\); the bundle is marked with it/);
      expect(existsSync(file)).toBe(true);
      const checked = await run(['verify-bundle', file]);
      expect(checked.code).toBe(1);
      expect(checked.stdout + checked.stderr).toMatch(/source_problem/);
    });
  }

  it('ends quietly when the reader of its output goes away (| head)', async () => {
    const many = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ type: 'task', task: `t${i} ${'x'.repeat(200)}` })).join('\n');
    expect((await run(['append', 'bank', 'long'], many + '\n')).code).toBe(0);
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'events', 'bank', 'long'], { env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.once('data', () => child.stdout.destroy()); // `head -c` closing its end of the pipe
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('read-only commands never create a store', () => {
  it.each([['verify'], ['sessions', 'bank'], ['tenant', 'list'], ['access-log'], ['checkpoint']])('`%s` in an empty folder exits 4 with NO_VAULT and creates nothing', async (...args) => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'sv-empty-'));
    try {
      const r = await runCli({ VAULT_HOME: path.join(empty, 'typo') }, args);
      expect(r.code).toBe(4);
      expect(r.stderr.trim()).toMatch(/^error\[NO_VAULT\]: no vault at .*typo.*db: run `session-vault init` first/);
      expect(existsSync(path.join(empty, 'typo'))).toBe(false);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  const pg = backends().find((b) => b.name === 'postgres');
  (pg ? it : it.skip)('a password given as a URL parameter reaches no output, error or log line', async () => {
    // node-postgres takes ?password= (and ?sslpassword=) as well as the user part. A login of
    // its own whose password is the secret: a server that trusts leaves it unused, one that
    // checks passwords (the embedded server a newcomer's npm test starts) takes it.
    const login = `sv_secret_${process.pid}`;
    const admin = new Client({ connectionString: adminUrl() });
    await admin.connect();
    await admin.query(`CREATE ROLE ${login} LOGIN SUPERUSER PASSWORD 'hunter2'`);
    const as = new URL(await pg!.database());
    [as.username, as.password] = [login, ''];
    const url = `${as.toString()}?password=hunter2&sslpassword=hunter3&application_name=sv-test`;
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-secret-url-'));
    try {
      const missing = await runCli({ VAULT_HOME: home, VAULT_DATABASE_URL: url }, ['verify']);
      expect(missing.code).toBe(4);
      expect(missing.stderr.trim()).toMatch(/^error\[NO_VAULT\]: no vault in postgres:\/\/.*\?password=\*\*\*&sslpassword=\*\*\*&application_name=sv-test /);
      const init = await runCli({ VAULT_HOME: home, VAULT_DATABASE_URL: url }, ['init', '--json']);
      expect(init.code).toBe(0);
      const listed = await runCli({ VAULT_HOME: home, VAULT_DATABASE_URL: url, VAULT_LOG_LEVEL: 'debug' }, ['tenant', 'list', '--debug']);
      expect(listed.code).toBe(0);
      expect(listed.stderr).toContain('password=***');
      for (const r of [missing, init, listed]) for (const secret of ['hunter2', 'hunter3']) expect(r.stdout + r.stderr).not.toContain(secret);
    } finally {
      rmSync(home, { recursive: true, force: true });
      const owned = new Client({ connectionString: new URL(as.pathname, adminUrl()).toString() });
      await owned.connect();
      await owned.query(`REASSIGN OWNED BY ${login} TO CURRENT_USER`);
      await owned.query(`DROP OWNED BY ${login}`);
      await owned.end();
      await admin.query(`DROP ROLE ${login}`);
      await admin.end();
    }
  });

  (pg ? it : it.skip)('`verify` against an empty Postgres database exits 4 and creates no table; an outdated vault is refused until init', async () => {
    const url = await pg!.database();
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-empty-pg-'));
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      const r = await runCli({ VAULT_HOME: home, VAULT_DATABASE_URL: url }, ['verify']);
      expect(r.code).toBe(4);
      expect(r.stderr.trim()).toMatch(/^error\[NO_VAULT\]: no vault in postgres:/);
      const tables = await c.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`);
      expect(tables.rows[0].n).toBe(0);
      expect((await runCli({ VAULT_HOME: home, VAULT_DATABASE_URL: url }, ['init'])).code).toBe(0);
      expect((await runCli({ VAULT_HOME: home, VAULT_DATABASE_URL: url }, ['verify'])).code).toBe(0);
      // As if the package were newer than the database: refused, with what to do.
      const last = await c.query('SELECT id FROM session_vault.__drizzle_migrations ORDER BY id DESC LIMIT 1');
      await c.query('CREATE TABLE session_vault.saved AS SELECT * FROM session_vault.__drizzle_migrations WHERE id = $1', [last.rows[0].id]);
      await c.query('DELETE FROM session_vault.__drizzle_migrations WHERE id = $1', [last.rows[0].id]);
      const old = await runCli({ VAULT_HOME: home, VAULT_DATABASE_URL: url }, ['verify']);
      expect(old.code).toBe(4);
      expect(old.stderr.trim()).toMatch(/^error\[STORAGE_REFUSED\]: the vault at .* has \d+ of this version's \d+ migrations: run `session-vault init`/);
      await c.query('INSERT INTO session_vault.__drizzle_migrations SELECT * FROM session_vault.saved');
    } finally {
      await c.end();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
