import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { runCli } from '../support/cli';
import { verifyBundle, signCheckpoint, manifestBody, parseTrustedKeys, sectionDigest, type Bundle, type CheckpointSigner, type PinnedKeys } from '../../src/audit';
import { requireCheckpoint, signNote } from '../../src/audit/checkpoint';
import { readKeyringDocument, readKeyringFile, replaceKeyringFile, withNewSigningKey } from '../../src/keys';
import { ensureSodium, generateSigningKeyPair, signingKeyId } from '../../src/crypto';
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
const kinds = async (b: unknown, trusted?: string[] | PinnedKeys) => (await verifyBundle(b, trusted)).problems.map((p) => p.kind);

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

  it('with keys pinned whole, accepts a bundle key only if it is that very key', async () => {
    const { id, publicKey } = bundle.publicKeys[0]!;
    const bankKey = new Uint8Array(Buffer.from(publicKey, 'base64'));
    expect((await verifyBundle(clone(bundle), { keys: new Map([[id, bankKey]]) })).ok).toBe(true);
    // The auditor's pin and the bundle disagree on the key behind the id: the bundle's is not trusted.
    const other = generateSigningKeyPair().publicKey;
    expect(await kinds(clone(bundle), { keys: new Map([[id, other]]) })).toEqual(expect.arrayContaining(['key_id_mismatch', 'untrusted_key', 'bad_manifest_signature']));
    expect(await kinds(clone(bundle), { keys: new Map([[signingKeyId(other), other]]) })).toEqual(expect.arrayContaining(['untrusted_key', 'bad_manifest_signature']));
  });

  it('refuses a key under an id that is not its own: a bundle holder re-signing a rewritten conversation as the vault', async () => {
    // The attacker holds a bundle and nothing of the bank's: their own vault, their own
    // keyring. They write the conversation they want, export it, and sign it again with
    // their key named as the bank's (the id the auditor was told to trust).
    const forger = await testVault(backend);
    try {
      await forger.vault.createTenant('bank');
      const rewritten = conversation.map((e, i) => (i === 0 ? { ...e, content: 'Move $5000 to account 99-1234' } : e));
      const s = forger.vault.session('bank', 'audited');
      await s.appendMany(rewritten.slice(0, 3));
      await s.appendMany(rewritten.slice(3));
      const keys = await readKeyringFile(forger.keyring);
      const own = keys.signingKeys.get(keys.primarySigningKey)!;
      const bankId = bundle.publicKeys[0]!.id;
      const forged = signedAs(await s.export({ decrypt: true, points: [{ atSeq: 3 }] }), { id: bankId, publicKey: own.publicKey, secretKey: own.secretKey });
      expect(forged.publicKeys.map((k) => k.id)).toEqual([bankId]);
      expect(JSON.stringify(forged.plaintext)).toContain('$5000');

      for (const trusted of [[bankId], undefined]) {
        const report = await verifyBundle(clone(forged), trusted);
        expect(report.ok).toBe(false);
        expect(report.signedBy).toEqual([]);
        expect(report.problems.map((p) => p.kind)).toEqual(expect.arrayContaining(['key_id_mismatch', 'untrusted_key', 'bad_manifest_signature', 'untrusted_checkpoint_key']));
      }
      // The bank's own bundle still verifies under that id.
      expect((await verifyBundle(clone(bundle), [bankId])).ok).toBe(true);
    } finally {
      await forger.close();
    }
  });

  it('a holder of a retired signing key cannot pass off a bundle of their own, dated in its period, to an auditor who pins the keys the witness keeps', async () => {
    const bank = await testVault(backend);
    const forger = await testVault(backend);
    try {
      await bank.vault.createTenant('bank');
      await bank.vault.session('bank', 'audited').appendMany(conversation);
      const genuine = await bank.vault.session('bank', 'audited').export({ decrypt: true });
      // The holder writes what they want in a vault of their own, while the bank's key is still primary.
      await forger.vault.createTenant('bank');
      const rewritten = conversation.map((e, i) => (i === 0 ? { ...e, content: 'Move $5000 to account 99-1234' } : e));
      await forger.vault.session('bank', 'audited').appendMany(rewritten);
      const theirs = await forger.vault.session('bank', 'audited').export({ decrypt: true });
      // The bank rotates its signing key; the agent's next append publishes the new key, and the old one's retirement, to the witness.
      const old = await readKeyringFile(bank.keyring);
      const retired = old.signingKeys.get(old.primarySigningKey)!;
      await replaceKeyringFile(bank.keyring, withNewSigningKey(await readKeyringDocument(bank.keyring), new Date()).doc);
      await bank.vault.session('bank', 'other').append({ type: 'task', task: 'after the rotation' });
      const witnessKeys = readFileSync(path.join(bank.home, 'witness', 'public-keys.json'), 'utf8');
      const stated = (JSON.parse(witnessKeys) as { keys: { id: string; retiredAt?: string }[] }).keys;
      expect(stated.map((k) => [k.id === old.primarySigningKey, k.retiredAt !== undefined])).toEqual([
        [true, true],
        [false, false],
      ]);
      const pinned = parseTrustedKeys(witnessKeys, 'public-keys.json');

      // Later, with the retired key's secret half (keyring.json.previous, a backup), they sign their bundle as the bank's, every time in the key's period.
      const forged = signedAs(theirs, { id: old.primarySigningKey, publicKey: retired.publicKey, secretKey: retired.secretKey });
      // The auditor receives it ten minutes after the rotation (past the 5 minutes' grace for clock skew).
      const received = new Date(Date.now() + 10 * 60_000);
      expect((await verifyBundle(clone(forged), { keys: pinned.keys, receivedAt: received })).ok).toBe(true); // what the key alone cannot tell
      const report = await verifyBundle(clone(forged), { ...pinned, receivedAt: received });
      expect(report.ok).toBe(false);
      expect(report.problems.map((p) => p.kind)).toEqual(['manifest_key_retired']);
      expect(report.problems[0]!.detail).toContain(`the manifest is signed by ${old.primarySigningKey}, retired at `);

      // Signed after the retirement and not dated back, its checkpoints count for nothing either, whenever the bundle was received.
      const late = signedAs(await forger.vault.session('bank', 'audited').export(), { id: old.primarySigningKey, publicKey: retired.publicKey, secretKey: retired.secretKey }, received);
      const before = new Date(Date.now() - 60 * 60_000);
      expect(await kinds(clone(late), { ...pinned, receivedAt: before })).toEqual(['checkpoint_outside_key_period', 'unsigned_tail']);

      // The bank's own: exported before the rotation, it verifies for an auditor who received it then; exported since, it verifies.
      expect(await kinds(clone(genuine), { ...pinned, receivedAt: received })).toEqual(['manifest_key_retired']);
      expect((await verifyBundle(clone(genuine), { ...pinned, receivedAt: before })).ok).toBe(true);
      const fresh = await bank.vault.session('bank', 'audited').export({ decrypt: true });
      expect(await verifyBundle(clone(fresh), { ...pinned, receivedAt: received })).toMatchObject({ ok: true, signedBy: [stated[1]!.id, old.primarySigningKey] });
      // With no time of receipt given, it is now: a key retired an hour ago vouches for no manifest today (nor for heads signed since).
      const anHourAgo = new Map([[old.primarySigningKey, { from: new Date(0), until: new Date(Date.now() - 60 * 60_000) }]]);
      expect(await kinds(clone(genuine), { keys: pinned.keys, periods: anHourAgo })).toEqual(['manifest_key_retired', 'checkpoint_outside_key_period', 'unsigned_tail']);
    } finally {
      await forger.close();
      await bank.close();
    }
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

      // The auditor pins the vault's key: by id, or whole from the witness's keys file, handed over out of band.
      const keysFile = path.join(home, 'witness', 'public-keys.json');
      const bankId = (JSON.parse(readFileSync(keysFile, 'utf8')) as { keys: { id: string }[] }).keys[0]!.id;
      // By id, the keys' periods are not checked, and the auditor is told so; the keys file states them.
      const byId = await run(auditorEnv, ['verify-bundle', out, '--trusted-key', bankId]);
      expect([byId.code, byId.stdout]).toEqual([0, expect.stringMatching(new RegExp(`^OK: bank/s[^]*signed by: ${bankId}\nkey periods: not checked \\(pin the vault's keys file`))]);
      const byKeys = await run(auditorEnv, ['verify-bundle', out, '--trusted-keys', keysFile]);
      expect([byKeys.code, byKeys.stdout]).toEqual([0, expect.stringMatching(new RegExp(`^OK: bank/s[^]*signed by: ${bankId}\n$`))]);
      expect(JSON.parse((await run(auditorEnv, ['verify-bundle', out, '--trusted-keys', keysFile, '--json'])).stdout)).toMatchObject({ ok: true, signedBy: [bankId], periodsChecked: true });

      // A bundle holder with a home of their own writes the conversation they want and signs it as the bank's key id.
      const forgerHome = path.join(elsewhere, 'forger');
      const forgerEnv = { VAULT_HOME: forgerHome, VAULT_ACTOR: 'forger' };
      expect((await run(forgerEnv, ['init'])).code).toBe(0);
      expect((await run(forgerEnv, ['tenant', 'create', 'bank'])).code).toBe(0);
      expect((await run(forgerEnv, ['append', 'bank', 's', '--event', '{"type":"message","role":"user","content":"close my account"}'])).code).toBe(0);
      const theirs = path.join(elsewhere, 'theirs.json');
      expect((await run(forgerEnv, ['export', 'bank', 's', '--out', theirs, '--decrypt'])).code).toBe(0);
      await ensureSodium();
      const keys = await readKeyringFile(path.join(forgerHome, 'keyring.json'));
      const own = keys.signingKeys.get(keys.primarySigningKey)!;
      const forged = path.join(elsewhere, 'forged.json');
      writeFileSync(forged, JSON.stringify(signedAs(JSON.parse(readFileSync(theirs, 'utf8')) as Bundle, { id: bankId, publicKey: own.publicKey, secretKey: own.secretKey })));
      for (const pin of [['--trusted-key', bankId], ['--trusted-keys', keysFile]]) {
        const refused = await run(auditorEnv, ['verify-bundle', forged, ...pin]);
        expect(refused.code).toBe(1);
        expect(refused.stdout).toMatch(/^BUNDLE REJECTED: bank\/s/);
        expect(refused.stdout).toContain(`key_id_mismatch: the public key given for ${bankId} is not the key that id names`);
      }

      // A keys file that is not one trusts nothing and checks nothing: exit 2, the bundle unread.
      const bad1 = path.join(elsewhere, 'wrong-id.json');
      const forgerKey = Buffer.from(own.publicKey).toString('base64');
      writeFileSync(bad1, JSON.stringify({ keys: [{ id: bankId, publicKey: forgerKey }] }));
      const bad2 = path.join(elsewhere, 'none.json');
      writeFileSync(bad2, JSON.stringify({ keys: [] }));
      for (const [args, message] of [
        [['--trusted-keys', bad1], `${bad1}: key 1 is not the key its id (${bankId}) names`],
        [['--trusted-keys', bad2], `${bad2}: lists no key`],
        [['--trusted-keys', out], `${out}: not a public keys document`],
        [['--trusted-keys', path.join(elsewhere, 'missing.json')], `cannot read ${path.join(elsewhere, 'missing.json')} (ENOENT)`],
        [['--trusted-keys', keysFile, '--trusted-key', bankId], 'give --trusted-key or --trusted-keys, not both'],
      ] as const) {
        const r = await run(auditorEnv, ['verify-bundle', forged, ...args]);
        expect([r.code, r.stdout]).toEqual([2, '']);
        expect(r.stderr.trim()).toMatch(/^error\[INVALID_INPUT\]: /);
        expect(r.stderr).toContain(message);
      }
      // The bank rotates its signing key: the witness states the old one's retirement, and a bundle it signed counts for an auditor who received it before.
      const receivedBefore = new Date().toISOString();
      expect((await run(env, ['keys', 'rotate-signing'])).code).toBe(0);
      const stated = (JSON.parse(readFileSync(keysFile, 'utf8')) as { keys: { id: string; createdAt?: string; retiredAt?: string }[] }).keys;
      expect(stated.map((k) => [k.id === bankId, k.createdAt !== undefined, k.retiredAt !== undefined])).toEqual([
        [true, true, true],
        [false, true, false],
      ]);
      expect((await run(auditorEnv, ['verify-bundle', out, '--trusted-keys', keysFile, '--received', receivedBefore])).code).toBe(0);
      const afterwards = await run(auditorEnv, ['verify-bundle', out, '--trusted-keys', keysFile, '--received', new Date(Date.now() + 10 * 60_000).toISOString()]);
      expect(afterwards.code).toBe(1);
      expect(afterwards.stdout).toContain(`manifest_key_retired: the manifest is signed by ${bankId}, retired at ${stated[0]!.retiredAt}`);
      for (const [args, message] of [
        [['--received', receivedBefore], '--received goes with --trusted-keys'],
        [['--trusted-key', bankId, '--received', receivedBefore], '--received goes with --trusted-keys'],
        [['--trusted-keys', keysFile, '--received', 'last week'], '--received takes an ISO-8601 time'],
      ] as const) {
        const r = await run(auditorEnv, ['verify-bundle', out, ...args]);
        expect([r.code, r.stdout]).toEqual([2, '']);
        expect(r.stderr.trim()).toMatch(/^error\[INVALID_INPUT\]: /);
        expect(r.stderr).toContain(message);
      }

      // A witness's keys are under their own ids: the forger's, under its own, is a trusted key that did not sign the bank's bundle.
      writeFileSync(bad1, JSON.stringify({ keys: [{ id: keys.primarySigningKey, publicKey: forgerKey }] }));
      const notBank = await run(auditorEnv, ['verify-bundle', out, '--trusted-keys', bad1]);
      expect(notBank.code).toBe(1);
      expect(notBank.stdout).toMatch(/untrusted_key/);
    } finally {
      rmSync(home, { recursive: true, force: true });
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

/** The bundle with its checkpoints (dated `time`, else as they were) and manifest signed again by `signer`, under `signer.id`, as its only key. */
function signedAs(b: Bundle, signer: CheckpointSigner, time?: Date): Bundle {
  const was = new Map(b.publicKeys.map((k) => [k.id, new Uint8Array(Buffer.from(k.publicKey, 'base64'))]));
  const checkpoints = b.checkpoints.map((note) => {
    const c = requireCheckpoint(note, was).checkpoint;
    return signCheckpoint(time ? { ...c, time } : c, signer);
  });
  const publicKeys = [{ id: signer.id, publicKey: Buffer.from(signer.publicKey).toString('base64') }];
  const digests = { ...b.manifest.digests, checkpoints: sectionDigest('checkpoints', checkpoints), publicKeys: sectionDigest('publicKeys', publicKeys) };
  const manifest = { ...b.manifest, digests };
  return { ...b, manifest, manifestSignature: signNote(manifestBody(manifest), signer), publicKeys, checkpoints };
}

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
