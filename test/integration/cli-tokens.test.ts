import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli';

/** `tokens create|list|revoke` through the real CLI on the embedded store. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('the tokens commands', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'sv-cli-tokens-'));
  const env = { VAULT_HOME: home };
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('print a token once, keep no secret on disk, list without secrets, revoke for good, all in the access trail', async () => {
    expect((await runCli(env, ['init'])).code).toBe(0);
    expect((await runCli(env, ['tenant', 'create', 'acme'])).code).toBe(0);

    const noActor = await runCli(env, ['tokens', 'create', 'acme', '--role', 'writer']);
    expect([noActor.code, noActor.stderr.trim()]).toEqual([2, expect.stringMatching(/^error\[ACTOR_REQUIRED\]/)]);
    for (const [args, code] of [
      [['tokens', 'create', 'acme', '--role', 'root'], 'INVALID_INPUT'],
      [['tokens', 'create', 'acme'], 'INVALID_INPUT'],
      [['tokens', 'create', 'acme', '--role', 'reader', '--expires-in', '0d'], 'INVALID_INPUT'],
      [['tokens', 'create', 'nobody', '--role', 'reader'], 'UNKNOWN_TENANT'],
      [['tokens', 'revoke', 'acme', 'not-an-id'], 'INVALID_ID'],
      [['tokens', 'revoke', 'acme', '0123456789abcdef'], 'UNKNOWN_TOKEN'],
    ] as const) {
      const r = await runCli({ ...env, VAULT_ACTOR: 'alice' }, [...args]);
      expect([args.join(' '), r.code, r.stderr.trim().split(':')[0]]).toEqual([args.join(' '), 2, `error[${code}]`]);
    }

    const made = await runCli({ ...env, VAULT_ACTOR: 'alice' }, ['tokens', 'create', 'acme', '--role', 'writer', '--label', 'claims agent', '--expires-in', '90d', '--reason', 'CHG-1']);
    expect(made.code).toBe(0);
    const [line1, token] = made.stdout.trim().split('\n');
    expect(line1).toMatch(/^token [0-9a-f]{16} \(writer, tenant acme, expires \d{4}-/);
    expect(token).toMatch(/^svt1\./);
    expect(made.stderr).toMatch(/shown this once/);
    const secret = token!.split('.')[3]!;
    for (const f of filesUnder(home)) expect([f, readFileSync(f).includes(secret)]).toEqual([f, false]);

    const list = await runCli(env, ['tokens', 'list', 'acme', '--json']);
    const [info] = JSON.parse(list.stdout);
    expect(info).toMatchObject({ tenant: 'acme', role: 'writer', label: 'claims agent', createdBy: 'alice', revokedAt: null });
    expect(list.stdout).not.toContain(secret);

    const revoked = await runCli({ ...env, VAULT_ACTOR: 'bob' }, ['tokens', 'revoke', 'acme', info.id, '--reason', 'leaked', '--json']);
    expect(JSON.parse(revoked.stdout)).toEqual({ tenant: 'acme', id: info.id, revoked: true, changed: true });
    const again = await runCli({ ...env, VAULT_ACTOR: 'bob' }, ['tokens', 'revoke', 'acme', info.id]);
    expect(again.stdout.trim()).toBe(`token ${info.id}: revoked (already)`);
    expect((await runCli(env, ['tokens', 'list', 'acme'])).stdout).toMatch(new RegExp(`${info.id}  writer .* revoked .* by bob`));

    // The tenant's listing: its own records in full, the rest withheld (access.test.ts).
    const trail = (await runCli(env, ['access-log', '--tenant', 'acme', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((r) => !r.withheld);
    // Refusals before anything is recorded (bad role, no role, bad duration, bad id) leave no record;
    // one of an unknown token is recorded, then its failure.
    expect(trail.map((r) => [r.actor, r.action, r.reason, r.outcome])).toEqual([
      ['(default)', 'retention.set:30d/7y', 'tenant created', 'granted'],
      ['alice', 'tokens.revoke:0123456789abcdef', null, 'granted'],
      ['alice', 'tokens.revoke:0123456789abcdef', null, 'failed:UNKNOWN_TOKEN'],
      ['alice', `tokens.create:${info.id}:writer`, 'CHG-1', 'granted'],
      ['bob', `tokens.revoke:${info.id}`, 'leaked', 'granted'],
      ['bob', `tokens.revoke:${info.id}`, null, 'granted'],
    ]);
  });
});
