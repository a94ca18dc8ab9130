import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openVault } from '../../src/vault';
import { runCli } from '../support/cli';

/** Error paths that need no backend: configuration, unreachable storage, unreadable input. */
describe('errors at the edges', () => {
  let home: string;
  beforeAll(() => (home = mkdtempSync(path.join(os.tmpdir(), 'sv-errors-'))));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it.each([
    ['an unknown option', { nonsense: true }],
    ['a page size of 0', { pageSize: 0 }],
    ['a database that is neither Postgres nor memory', { database: 'mysql://localhost/x' }],
  ])('openVault refuses %s with INVALID_CONFIG', async (_label, options) => {
    await expect(openVault({ home, ...(options as object) })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
  });

  it('reports an unreachable database as a storage error, exit 4, in one line', async () => {
    const r = await runCli({ VAULT_HOME: home, VAULT_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }, ['tenant', 'list']);
    expect(r.code).toBe(4);
    // Which host, and why, in words; never the credentials.
    expect(r.stderr.trim()).toMatch(/^error\[STORAGE_UNAVAILABLE\]: database unreachable while connecting to Postgres at 127\.0\.0\.1:1 \(ECONNREFUSED: connection refused: nothing listens there\)$/);
    const secret = await runCli({ VAULT_HOME: home, VAULT_DATABASE_URL: 'postgres://nobody:hunter2@no-such-host.invalid:5433/none' }, ['tenant', 'list']);
    expect(secret.code).toBe(4);
    expect(secret.stderr.trim()).toMatch(/^error\[STORAGE_UNAVAILABLE\]: database unreachable while connecting to Postgres at no-such-host\.invalid:5433 \((ENOTFOUND: host not found|EAI_AGAIN: host name lookup failed \(temporary\))\)$/);
    expect(secret.stderr).not.toContain('hunter2');
  });

  it('verify-bundle refuses a file it cannot read (exit 2) and one that is not JSON (exit 1)', async () => {
    const missing = await runCli({ VAULT_HOME: home }, ['verify-bundle', path.join(home, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toMatch(/^error\[INVALID_INPUT\]: cannot read .*nope\.json \(ENOENT\)$/);
    const garbage = path.join(home, 'garbage.json');
    writeFileSync(garbage, '{ not json');
    const bad = await runCli({ VAULT_HOME: home }, ['verify-bundle', garbage, '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, problems: [{ kind: 'malformed_bundle', detail: 'not valid JSON' }] });
  });

  it('import refuses a file it cannot read and one that is not JSON, before opening any store (exit 2)', async () => {
    const missing = await runCli({ VAULT_HOME: home }, ['import', 't', 's', path.join(home, 'nope.json'), '--format', 'openai-messages']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toMatch(/^error\[INVALID_INPUT\]: cannot read .*nope\.json \(ENOENT\)$/);
    const garbage = path.join(home, 'history.json');
    writeFileSync(garbage, '[{ oops');
    const bad = await runCli({ VAULT_HOME: home }, ['import', 't', 's', garbage, '--format', 'autogen']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(`error[INVALID_EVENT]: ${garbage}: not valid JSON`);
  });
});
