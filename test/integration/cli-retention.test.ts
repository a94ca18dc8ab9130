import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backends, dropCreatedDatabases, type Backend } from '../support/backends';
import { runCli } from '../support/cli';

/** The retention commands as an operator runs them: real processes, exit codes, one-line errors. */
afterAll(dropCreatedDatabases);

describe.each(backends())('retention commands on $name', (backend: Backend) => {
  let env: Record<string, string>;
  let home: string;
  const run = (args: string[], stdin?: string, extra: Record<string, string> = {}) => runCli({ ...env, ...extra }, args, stdin);
  const status = async (session: string) =>
    (JSON.parse((await run(['sessions', 'bank', '--json'])).stdout) as { session: string; status: string }[]).find((s) => s.session === session)?.status;

  beforeAll(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), 'sv-cli-ret-'));
    env = { VAULT_HOME: home };
    if (backend.name === 'postgres') env.VAULT_DATABASE_URL = await backend.database();
    expect((await run(['init'])).code).toBe(0);
    expect((await run(['tenant', 'create', 'bank'])).code).toBe(0);
    const events = ['{"type":"message","role":"user","content":"hi"}', '{"type":"message","role":"assistant","content":"hello"}'].join('\n');
    expect((await run(['append', 'bank', 's1'], events)).code).toBe(0);
    expect((await run(['append', 'bank', 's2'], events)).code).toBe(0);
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('sets and shows a policy; a bad duration exits 2 and changes nothing', async () => {
    const bad = await run(['retention', 'set', 'bank', '--archive-after', '10', '--retain', '7y', '--actor', 'ops']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error\[INVALID_INPUT\]: --archive-after must be/);
    const set = await run(['retention', 'set', 'bank', '--archive-after', '1h', '--retain', '6y', '--actor', 'ops', '--reason', 'SEC 17a-4', '--json']);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ tenant: 'bank', archiveAfter: '1h', retain: '6y', source: 'tenant', setBy: 'ops' });
    expect(JSON.parse((await run(['retention', 'show', 'bank', '--json'])).stdout)).toMatchObject({ archiveAfter: '1h', retain: '6y' });
    for (const args of [['retention', 'set', 'nosuch', '--archive-after', '1d', '--retain', '1y'], ['retention', 'show', 'nosuch'], ['retention', 'run', '--tenant', 'nosuch']]) {
      const r = await run([...args, '--actor', 'ops']);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe('error[UNKNOWN_TENANT]: unknown tenant nosuch');
    }
  });

  it('archives with an actor only, verifies from the archive, refuses an early purge, restores', async () => {
    const anonymous = await run(['archive', 'bank', 's1']);
    expect(anonymous.code).toBe(2);
    expect(anonymous.stderr).toMatch(/^error\[ACTOR_REQUIRED\]/);
    const a = await run(['archive', 'bank', 's1', '--actor', 'ops', '--json']);
    expect(a.code).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({ outcome: 'archived', events: 2, digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(await status('s1')).toBe('archived');
    expect(JSON.parse((await run(['verify', 'bank', '--json'])).stdout)).toMatchObject({ ok: true, events: 4 });
    const events = await run(['events', 'bank', 's1', '--actor', 'ops', '--json']);
    expect(events.stdout.trim().split('\n').map((l) => JSON.parse(l).data.content)).toEqual(['hi', 'hello']);
    const early = await run(['purge', 'bank', 's1', '--actor', 'ops']);
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(/^error\[RETENTION_NOT_DUE\]: session bank\/s1 must be kept until /);
    // The object gone from the store: verify exits 1 and names it.
    const object = path.join(home, 'archive', 'bank', 's1', '2.svarc.gz');
    renameSync(object, `${object}.away`);
    const missing = await run(['verify', '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).problems).toEqual([{ tenant: 'bank', session: 's1', seq: 2, kind: 'archive_missing' }]);
    renameSync(`${object}.away`, object);
    const restored = await run(['restore', 'bank', 's1', '--actor', 'ops', '--json']);
    expect(JSON.parse(restored.stdout)).toEqual({ tenant: 'bank', session: 's1', restored: true });
    expect(await status('s1')).toBe('active');
  });

  it('an unreachable archive store exits 4 with one line and leaves the session hot', async () => {
    const r = await run(['archive', 'bank', 's2', '--actor', 'ops', '--archive', 's3://nowhere/x'], '', { VAULT_S3_ENDPOINT: 'http://127.0.0.1:1', AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' });
    expect(r.code).toBe(4);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error\[STORAGE_UNAVAILABLE\]: archive s3:\/\/nowhere\/x unavailable/)]);
    expect(await status('s2')).toBe('active');
  });

  it('retention run --dry-run with nothing due prints nothing; every retention action is in the access trail', async () => {
    // Nothing is idle for an hour yet.
    const dry = await run(['retention', 'run', '--dry-run', '--json', '--actor', 'ops']);
    expect(dry.code).toBe(0);
    expect(dry.stdout.trim()).toBe('');
    await run(['retention', 'set', 'bank', '--archive-after', '1h', '--retain', '1h', '--actor', 'ops']);
    const log = await run(['access-log', '--json', '--tenant', 'bank']);
    expect(log.stdout.trim().split('\n').map((l) => JSON.parse(l).action)).toEqual(expect.arrayContaining(['retention.set:1h/6y', 'retention.set:1h/1h', 'retention.archive', 'retention.restore']));
  });

  it('as the application role (VAULT_APP_ROLE), a hold or a policy change exits 4 with one line naming the privilege, and changes nothing', async () => {
    const asApp = { VAULT_APP_ROLE: 'session_vault_app' };
    const policy = (await run(['retention', 'show', 'bank', '--json'])).stdout;
    const holds = (await run(['hold', 'list', '--json'])).stdout;
    for (const args of [
      ['hold', 'set', 'bank', 's1', '--reason', 'litigation 12', '--actor', 'mallory'],
      ['retention', 'set', 'bank', '--archive-after', '1d', '--retain', '1d', '--actor', 'mallory', '--reason', 'cleanup'],
    ]) {
      const refused = await run(args, undefined, asApp);
      expect([args[0], refused.code, refused.stderr]).toEqual([args[0], 4, expect.stringMatching(/^error\[PERMISSION_DENIED\]: database refused .*: insufficient privilege for the role this vault acts as \(roles: docs\/operations.md\)\n$/)]);
    }
    expect((await run(['hold', 'list', '--json'])).stdout).toBe(holds);
    expect((await run(['retention', 'show', 'bank', '--json'])).stdout).toBe(policy);
    // The agent's work still goes on as that role.
    expect((await run(['append', 'bank', 'agent', '--event', '{"type":"task","task":"as the app"}'], undefined, asApp)).code).toBe(0);
  });

  it('hold set brings an archived session back to the database; where the store cannot be reached it says so, and retention run restores it', async () => {
    expect((await run(['archive', 'bank', 'agent', '--actor', 'ops'])).code).toBe(0);
    const held = await run(['hold', 'set', 'bank', 'agent', '--reason', 'case 10', '--actor', 'legal', '--json']);
    expect([held.code, JSON.parse(held.stdout), held.stderr]).toEqual([0, { tenant: 'bank', session: 'agent', held: true, changed: true, status: 'active' }, '']);
    expect((await run(['archive', 'bank', 's2', '--actor', 'ops'])).code).toBe(0);
    const unreachable = { VAULT_S3_ENDPOINT: 'http://127.0.0.1:1', AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' };
    const away = await run(['hold', 'set', 'bank', 's2', '--reason', 'case 11', '--actor', 'legal', '--archive', 's3://nowhere/x'], '', unreachable);
    const [log, warning, ...rest] = away.stderr.split('\n');
    expect([away.code, away.stdout, JSON.parse(log!), warning, rest]).toEqual([
      0,
      'bank/s2: held\n',
      expect.objectContaining({ level: 40, op: 'hold.set', tenant: 'bank', session: 's2', code: 'STORAGE_UNAVAILABLE' }),
      'warning: bank/s2 stays archived: its archive object could not be restored now (see the access trail); the next retention run restores it',
      [''],
    ]);
    expect(await status('s2')).toBe('archived');
    const dry = await run(['retention', 'run', '--tenant', 'bank', '--dry-run', '--actor', 'ops']);
    expect([dry.code, dry.stdout, dry.stderr]).toEqual([0, 'restore\tbank/s2\tplanned\n', 'would archive 0, would purge 0, would restore 1 (held), failed 0\n']);
    const done = await run(['retention', 'run', '--tenant', 'bank', '--actor', 'ops']);
    expect([done.code, done.stdout, done.stderr]).toEqual([0, 'restore\tbank/s2\tdone\n', 'archived 0, purged 0, restored 1 (held), failed 0\n']);
    expect(await status('s2')).toBe('active');
    // A held session whose archive object is gone: the run reports it and exits 1, an integrity problem.
    expect((await run(['archive', 'bank', 's1', '--actor', 'ops'])).code).toBe(0);
    const object = path.join(home, 'archive', 'bank', 's1', '2.svarc.gz');
    renameSync(object, `${object}.away`);
    expect((await run(['hold', 'set', 'bank', 's1', '--reason', 'case 12', '--actor', 'legal'])).code).toBe(0);
    const missing = await run(['retention', 'run', '--tenant', 'bank', '--actor', 'ops']);
    expect([missing.code, missing.stdout, missing.stderr]).toEqual([1, 'restore\tbank/s1\tfailed:ARCHIVE_MISSING\n', 'archived 0, purged 0, failed 1\n']);
    renameSync(`${object}.away`, object);
    expect(await status('s1')).toBe('archived');
  });
});
