import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { runCli } from '../support/cli';
import { verifyBundle, signCheckpoint, type Bundle } from '../../src/audit';
import { generateSigningKeyPair, signingKeyId } from '../../src/crypto';
import type { Vault } from '../../src/vault';
import { sql } from 'drizzle-orm';
import { storeOf } from '../../src/vault/vault';
import { withTenant } from '../../src/store';
import { forgeEvent } from '../support/forged-event';

/** The auditor bundle: it verifies offline, and every mutation of it is rejected. */
afterAll(dropCreatedDatabases);

const conversation = [
  { type: 'message', role: 'user', content: 'Move $50 to savings', usage: { promptTokens: 5, completionTokens: 0 }, costUsd: 0.01 },
  { type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amount: 50 } },
  { type: 'tool_result', callId: 'c1', output: { ok: true }, durationMs: 12 },
  { type: 'state_patch', scope: 'world', patch: { savings: 50 } },
  { type: 'task', task: 'confirm' },
  { type: 'message', role: 'assistant', content: 'Done.', idempotencyKey: 'r-1' },
];

const clone = (b: Bundle): Bundle => JSON.parse(JSON.stringify(b)) as Bundle;
const kinds = async (b: unknown, trusted?: string[]) => (await verifyBundle(b, trusted)).problems.map((p) => p.kind);

describe.each(backends())('auditor bundles on $name', (backend) => {
  let vault: Vault;
  let close: () => Promise<void>;
  let bundle: Bundle;
  let other: Bundle;

  beforeAll(async () => {
    ({ vault, close } = await testVault(backend));
    await vault.createTenant('bank');
    const s = vault.session('bank', 'audited');
    await s.appendMany(conversation.slice(0, 3));
    await s.appendMany(conversation.slice(3));
    await vault.session('bank', 'other').append({ type: 'task', task: 'x' });
    bundle = await s.export({ decrypt: true, points: [{ atSeq: 3 }] });
    other = await vault.session('bank', 'other').export();
  });
  afterAll(() => close());

  it('verifies offline: chain, checkpoints, manifest, plaintext and replayed states', async () => {
    const report = await verifyBundle(clone(bundle));
    expect(report).toMatchObject({ ok: true, tenant: 'bank', session: 'audited', events: 6, checkpoints: 2, decrypted: true, problems: [] });
    expect(report.signedBy).toHaveLength(1);
    expect(bundle.states!.map((s) => s.point)).toEqual([{ atSeq: 3 }, 'latest']);
    expect((bundle.states![0]!.state as { lastSeq: number }).lastSeq).toBe(3);
    expect(await verifyBundle(clone(other))).toMatchObject({ ok: true, decrypted: false });
    expect(other.plaintext).toBeNull();
    expect(JSON.stringify(other)).not.toContain('"x"'); // no plaintext without --decrypt
  });

  it('accepts only the auditor’s trusted key when one is named', async () => {
    expect((await verifyBundle(clone(bundle), [bundle.publicKeys[0]!.id])).ok).toBe(true);
    expect(await kinds(clone(bundle), ['ed25519:0000000000000000'])).toEqual(expect.arrayContaining(['untrusted_key', 'bad_manifest_signature']));
  });

  it('rejects a change to any single value anywhere in the bundle', async () => {
    const leaves = leafPaths(bundle);
    expect(leaves.length).toBeGreaterThan(150);
    for (const p of leaves) {
      const b = clone(bundle);
      mutate(b, p);
      const report = await verifyBundle(b);
      if (report.ok) throw new Error(`a change at ${p.join('.')} was accepted`);
    }
  });

  it.each([
    ['a removed event', (b: Bundle) => b.events.splice(2, 1), ['digest_mismatch', 'manifest_mismatch', 'gap']],
    ['an inserted event', (b: Bundle) => b.events.splice(2, 0, b.events[1]!), ['manifest_mismatch', 'out_of_order']],
    ['two reordered events', (b: Bundle) => b.events.splice(1, 2, b.events[2]!, b.events[1]!), ['digest_mismatch', 'hash_mismatch']],
    ['a manifest with a wrong count', (b: Bundle) => (b.manifest.events += 1), ['bad_manifest_signature', 'manifest_mismatch']],
    ['plaintext that does not match', (b: Bundle) => ((b.plaintext!.events[0]!.data as { content: string }).content = 'Move $5000 to savings'), ['digest_mismatch', 'plaintext_mismatch']],
  ])('rejects %s, naming the problem', async (_label, change, expected) => {
    const b = clone(bundle);
    change(b);
    expect(await kinds(b)).toEqual(expect.arrayContaining(expected));
  });

  it('rejects swapped checkpoints', async () => {
    const b = clone(bundle);
    b.checkpoints = [...other.checkpoints];
    expect(await kinds(b)).toEqual(expect.arrayContaining(['digest_mismatch', 'foreign_checkpoint']));
    const swapped = clone(bundle);
    swapped.checkpoints.reverse();
    expect(await kinds(swapped)).toEqual(['digest_mismatch']);
  });

  it('rejects a checkpoint signed by another key', async () => {
    const b = clone(bundle);
    const kp = generateSigningKeyPair();
    const e = b.events[5]!;
    b.checkpoints.push(
      signCheckpoint({ tenant: 'bank', session: 'audited', seq: 6, hash: new Uint8Array(Buffer.from(e.hash, 'hex')), time: new Date() }, { id: signingKeyId(kp.publicKey), ...kp }),
    );
    expect(await kinds(b)).toEqual(expect.arrayContaining(['untrusted_checkpoint_key']));
  });

  it('names events no signature covers: those past the last signed checkpoint, written outside the vault', async () => {
    await vault.session('bank', 'tail').append({ type: 'task', task: 'signed' });
    const asApp = (q: string) => withTenant(storeOf(vault).db, 'bank', 'attack', (tx) => tx.execute(sql.raw(q)), storeOf(vault).layout.appRole);
    const seq = await forgeEvent(asApp, 'bank', 'tail');
    const report = await verifyBundle(clone(await vault.session('bank', 'tail').export()));
    expect(report.problems.map((p) => [p.kind, p.seq])).toEqual([
      ['source_problem', seq],
      ['unsigned_tail', seq],
    ]);
  });

  it('rejects something that is not a bundle', async () => {
    expect(await kinds({ format: 'x' })).toEqual(['malformed_bundle']);
    expect(await kinds([])).toEqual(['malformed_bundle']);
  });
});

describe('export and verify-bundle from the CLI', () => {
  const run = (env: Record<string, string>, args: string[]) => runCli(env, args);

  it('writes a 0600 bundle, never overwrites without --force, and verifies it on a machine with nothing else', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-export-'));
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'sv-auditor-'));
    try {
      const env = { VAULT_HOME: home, VAULT_ACTOR: 'auditor-liaison' };
      expect((await run(env, ['init'])).code).toBe(0);
      expect((await run(env, ['tenant', 'create', 'bank'])).code).toBe(0);
      expect((await run(env, ['append', 'bank', 's', '--event', '{"type":"message","role":"user","content":"hello"}'])).code).toBe(0);
      const out = path.join(home, 'bundle.json');
      const first = await run(env, ['export', 'bank', 's', '--out', out, '--decrypt', '--json']);
      expect(first.code).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ file: out, events: 1, decrypted: true });
      expect(statSync(out).mode & 0o777).toBe(0o600);
      const before = readFileSync(out, 'utf8');
      const again = await run(env, ['export', 'bank', 's', '--out', out]);
      expect(again.code).toBe(2);
      expect(again.stderr.trim()).toMatch(/^error\[INVALID_INPUT\]: .* exists; pass --force/);
      expect(readFileSync(out, 'utf8')).toBe(before);
      expect((await run(env, ['export', 'bank', 's', '--out', out, '--force'])).code).toBe(0);
      expect(statSync(out).mode & 0o777).toBe(0o600);

      // Every session of the tenant at once: one 0600 bundle each, each recorded as an access.
      expect((await run(env, ['append', 'bank', 't', '--event', '{"type":"task","task":"second"}'])).code).toBe(0);
      const dir = path.join(home, 'all');
      const all = await run(env, ['export', '--tenant', 'bank', '--all', '--out', dir, '--json']);
      expect(all.code).toBe(0);
      expect(JSON.parse(all.stdout).sessions.map((x: { session: string }) => x.session)).toEqual(['s', 't']);
      for (const f of ['s', 't']) expect(statSync(path.join(dir, `${f}.bundle.json`)).mode & 0o777).toBe(0o600);
      const trail = await run(env, ['access-log', '--json']);
      expect(trail.stdout.trim().split('\n').map((l) => JSON.parse(l).action).slice(-2)).toEqual(['export', 'export']);
      expect((await run(env, ['export', 'bank', 's', '--all', '--out', dir])).code).toBe(2);

      // The auditor: another home, no database, no keyring.
      const auditorEnv = { VAULT_HOME: elsewhere, VAULT_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', VAULT_KEYRING: '/nonexistent' };
      const ok = await run(auditorEnv, ['verify-bundle', out, '--json']);
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, events: 1 });
      const tampered = path.join(elsewhere, 'tampered.json');
      writeFileSync(tampered, readFileSync(out, 'utf8').replace(/"correlationId": "[^"]+"/, '"correlationId": "forged"'));
      const bad = await run(auditorEnv, ['verify-bundle', tampered]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/^BUNDLE REJECTED/);
      expect(bad.stdout).toMatch(/hash_mismatch \(seq 1\)/);
    } finally {
      rmSync(home, { recursive: true, force: true });
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

/** Every path to a leaf (string, number, boolean, null) of a JSON value. */
function leafPaths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (v !== null && typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => leafPaths(x, [...at, Array.isArray(v) ? Number(k) : k]));
  }
  return [at];
}

/** Changes the leaf at `p`: a string gets one character changed, a number +1, a boolean flipped, null becomes 0. */
function mutate(root: unknown, p: (string | number)[]): void {
  const parent = p.slice(0, -1).reduce<any>((o, k) => o[k], root);
  const key = p[p.length - 1]!;
  const v = parent[key];
  if (typeof v === 'string') {
    const i = Math.floor(v.length / 2);
    const c = v.charAt(i);
    parent[key] = v.length === 0 ? 'x' : v.slice(0, i) + (c === 'A' ? 'B' : 'A') + v.slice(i + 1);
  } else if (typeof v === 'number') parent[key] = v + 1;
  else if (typeof v === 'boolean') parent[key] = !v;
  else parent[key] = 0;
}
