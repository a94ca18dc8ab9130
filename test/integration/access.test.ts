import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { runCli } from '../support/cli';
import { asOwner } from '../support/owner';
import { refusal } from '../support/refusal';
import { sql } from 'drizzle-orm';
import { openVault, type Vault } from '../../src/vault';
import type { VaultDeps } from '../../src/vault/deps';
import { storeOf } from '../../src/vault/vault';
import { appendAccess, lastAccess, tenantSecrets } from '../../src/store';
import { createLogger } from '../../src/observability';
import { accessDigests, accessHash, signTrailHead, tenantCommitment, verifyTrail } from '../../src/audit';
import { ensureSodium, fromHex, generateSigningKeyPair, signingKeyId, toHex } from '../../src/crypto';
import { GENESIS_HASH } from '../../src/events';

/** The operator access trail: who decrypted what, when, why; append-only, chained, fail-closed. */
afterAll(dropCreatedDatabases);

describe.each(backends())('the access trail on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend));
    await vault.createTenant('bank');
    await vault.createTenant('other');
    await vault.session('bank', 's').appendMany([{ type: 'message', role: 'user', content: 'hi' }, { type: 'task', task: 't' }]);
    await vault.session('other', 'o').append({ type: 'task', task: 'x' });
  });
  afterAll(() => close());

  const trail = async (filter = {}) => {
    const out = [];
    for await (const r of vault.accessLog(filter)) out.push({ actor: r.actor, action: r.action, tenant: r.tenant, session: r.session, reason: r.reason, outcome: r.outcome });
    return out;
  };

  it('records every operator read and export, with actor, reason and outcome', async () => {
    const op = vault.operator({ actor: 'alice', reason: 'complaint 4411' });
    for await (const _ of await op.events('bank', 's'));
    expect((await op.state('bank', 's', { atSeq: 1 })).lastSeq).toBe(1);
    await op.export('bank', 's', { decrypt: true });
    await vault.operator({ actor: 'bob' }).export('other', 'o');
    await expect(op.events('bank', 'ghost')).rejects.toMatchObject({ code: 'UNKNOWN_SESSION' });
    const base = { actor: 'alice', tenant: 'bank', session: 's', reason: 'complaint 4411', outcome: 'granted' };
    // Each tenant's default retention policy, recorded when it was created (docs/retention.md).
    const created = (tenant: string) => ({ actor: '(default)', action: 'retention.set:30d/7y', tenant, session: null, reason: 'tenant created', outcome: 'granted' });
    expect(await trail()).toEqual([
      created('bank'),
      created('other'),
      { ...base, action: 'events' },
      { ...base, action: 'replay' },
      { ...base, action: 'export-decrypted' },
      { actor: 'bob', action: 'export', tenant: 'other', session: 'o', reason: null, outcome: 'granted' },
      { ...base, action: 'events', session: 'ghost' },
      { ...base, action: 'events', session: 'ghost', outcome: 'failed:UNKNOWN_SESSION' },
    ]);
    expect((await trail({ tenant: 'other' })).map((r) => r.actor)).toEqual(['(default)', 'bob']);
    expect(await trail({ since: new Date(Date.now() + 60_000) })).toEqual([]);
    expect((await vault.verify()).ok).toBe(true);
  });

  it('refuses an operator without an actor, before touching anything', () => {
    expect(() => vault.operator({ actor: '' })).toThrow(expect.objectContaining({ code: 'ACTOR_REQUIRED' }));
    expect(() => vault.operator({ actor: ' leading-space' })).toThrow(expect.objectContaining({ code: 'ACTOR_REQUIRED' }));
  });

  it('refuses the operation when the trail cannot be written (fail closed)', async () => {
    const before = (await trail()).length;
    await asOwner(vault, url, [{ text: 'REVOKE INSERT ON access_log FROM session_vault_app' }]);
    try {
      const op = vault.operator({ actor: 'mallory', reason: 'curious' });
      await expect(op.events('bank', 's')).rejects.toMatchObject({ code: 'ACCESS_TRAIL_UNAVAILABLE' });
      await expect(op.state('bank', 's')).rejects.toMatchObject({ code: 'ACCESS_TRAIL_UNAVAILABLE' });
      await expect(op.export('bank', 's', { decrypt: true })).rejects.toMatchObject({ code: 'ACCESS_TRAIL_UNAVAILABLE' });
      // A tenant is created with its default retention recorded, or not at all.
      await expect(vault.createTenant('unrecorded')).rejects.toMatchObject({ code: 'ACCESS_TRAIL_UNAVAILABLE' });
      expect((await vault.tenants()).map((t) => t.tenant)).toEqual(['bank', 'other']);
    } finally {
      await asOwner(vault, url, [{ text: 'GRANT INSERT ON access_log TO session_vault_app' }]);
    }
    expect((await trail()).length).toBe(before);
  });

  it('is append-only, and verify names a record changed behind its back', async () => {
    await expect(storeOf(vault).db.execute(sql`UPDATE access_log SET actor = 'nobody'`)).rejects.toMatchObject({ cause: expect.objectContaining({ code: '42501' }) });
    const [[first]] = (await asOwner(vault, url, [{ text: `SELECT min(seq)::int AS seq FROM access_log WHERE actor = 'alice'` }])) as [{ seq: number }[]];
    const seq = first!.seq;
    await asOwner(vault, url, [{ text: `UPDATE access_log SET actor = 'nobody' WHERE seq = ${seq}` }]);
    const report = await vault.verify();
    expect(report.problems).toEqual([{ tenant: '*', session: '(access trail)', seq, kind: 'access_hash_mismatch' }]);
    // Every scope checks the trail: an auditor verifying one tenant sees it too.
    expect((await vault.verify({ tenant: 'other' })).problems).toEqual([{ tenant: '*', session: '(access trail)', seq, kind: 'access_hash_mismatch' }]);
    await asOwner(vault, url, [{ text: `UPDATE access_log SET actor = 'alice' WHERE seq = ${seq}` }]);
    expect((await vault.verify()).ok).toBe(true);
  });

  it('a DBA who deletes the newest records (triggers off) leaves a consistent chain, and the witness shows the cut', async () => {
    const op = vault.operator({ actor: 'eve', reason: 'quiet look' });
    for await (const _ of await op.events('bank', 's'));
    const [[last]] = (await asOwner(vault, url, [{ text: 'SELECT max(seq)::int AS n FROM access_log' }])) as [{ n: number }[]];
    await asOwner(vault, url, [{ text: `CREATE TABLE cut_access AS SELECT * FROM access_log WHERE seq = ${last!.n}` }, { text: `DELETE FROM access_log WHERE seq = ${last!.n}` }]);
    const report = await vault.verify({ tenant: 'bank' });
    expect(report.problems).toEqual([{ tenant: '*', session: '(access trail)', seq: last!.n, kind: 'access_witness_beyond_head' }]);
    // Put back as it was: green again.
    await asOwner(vault, url, [{ text: 'INSERT INTO access_log SELECT * FROM cut_access' }, { text: 'DROP TABLE cut_access' }]);
    expect((await vault.verify()).ok).toBe(true);
  });

  /** An unsigned access record of bank/s at `seq` and `at`, inserted raw as the application role: what a compromised agent host can send. */
  const rawRecord = (seq: bigint | number, at = 'now') =>
    sql`INSERT INTO access_log (seq, at, actor, action, tenant_id, session_id, outcome, hash, salt) VALUES (${seq.toString()}::bigint, ${at}::timestamptz, 'x', 'events', 'bank', 's', 'granted', ${Buffer.alloc(32)}, ${Buffer.alloc(16)})`;

  it('refuses a record that leaves a gap, or whose seq a JavaScript number cannot hold, as the application role; one the owner stores anyway, verify reports and does not crash on', async () => {
    const fresh = await testVault(backend);
    try {
      await fresh.vault.createTenant('bank');
      const db = storeOf(fresh.vault).db;
      const last = (await lastAccess(db))!.seq;
      // As the agents' database role: a gap, which every later verify would report and every later record chain across, or a seq
      // past 2^53, which made verify throw and every operator action fail untyped (the next seq has no exact number).
      expect(await refusal(db.execute(rawRecord(BigInt(last) + 2n)))).toMatch(/access_log_gapless/);
      expect(await refusal(db.execute(rawRecord(2n ** 53n + 1n)))).toMatch(/access_log_gapless|access_log_seq_range/);
      expect(await refusal(db.execute(rawRecord(2n ** 53n)))).toMatch(/access_log_gapless|access_log_seq_range/);
      expect((await lastAccess(db))!.seq).toBe(last);
      expect((await fresh.vault.verify()).ok).toBe(true);
      // As the owner, who can drop both: stored, and reported; operator actions are refused, typed.
      await asOwner(fresh.vault, fresh.url, [{ text: 'ALTER TABLE access_log DROP CONSTRAINT access_log_seq_range' }, { text: 'DROP TRIGGER access_log_gapless ON access_log' }], { triggers: 'on' });
      await db.execute(rawRecord(2n ** 53n + 1n));
      expect((await fresh.vault.verify()).problems.map((p) => p.kind)).toEqual(expect.arrayContaining(['access_gap']));
      await expect(fresh.vault.operator({ actor: 'ops', reason: 'r' }).state('bank', 's')).rejects.toMatchObject({ code: 'ACCESS_TRAIL_UNAVAILABLE' });
      const lines = [];
      for await (const l of fresh.vault.trailFile()) lines.push(JSON.parse(JSON.stringify(l)) as unknown);
      expect(verifyTrail(lines, { keys: await (fresh.vault as unknown as { deps: VaultDeps }).deps.trustedKeys() }).ok).toBe(false);
      // A scope's listing, which withholds the records outside it as digests of their seq, is written too (that one shown).
      const scoped = [];
      for await (const l of fresh.vault.trailFile({ tenant: 'insurer' })) scoped.push(l);
      expect(scoped.filter((l) => !('withheld' in l)).map((l) => l.seq)).toEqual([2 ** 53]);
    } finally {
      await fresh.close();
    }
  });

  it("refuses a record dated where the chain's format cannot put it (before 1970, infinity), as the application role; one the owner stores anyway, verify reports and does not crash on", async () => {
    const fresh = await testVault(backend);
    try {
      await fresh.vault.createTenant('bank');
      const db = storeOf(fresh.vault).db;
      const next = async () => (await lastAccess(db))!.seq + 1;
      // As the agents' database role: one such record made every later verify throw (a RangeError), whatever else was wrong.
      for (const at of ['1969-07-20T20:17:00Z', 'infinity', '-infinity', '9999-12-31T23:59:59Z']) {
        expect(await refusal(db.execute(rawRecord(await next(), at)))).toMatch(/access_log_at_range/);
      }
      expect((await fresh.vault.verify()).ok).toBe(true);
      // Once the owner, who can, drops the constraint: stored, and reported.
      const seq = await next();
      await asOwner(fresh.vault, fresh.url, [{ text: 'ALTER TABLE access_log DROP CONSTRAINT access_log_at_range' }], { triggers: 'on' });
      await db.execute(rawRecord(seq, '1969-07-20T20:17:00Z'));
      await db.execute(rawRecord(seq + 1, 'infinity'));
      const report = await fresh.vault.verify();
      expect(report.problems).toEqual([
        { tenant: '*', session: '(access trail)', seq, kind: 'access_time_invalid' },
        { tenant: '*', session: '(access trail)', seq, kind: 'access_unsigned' },
        { tenant: '*', session: '(access trail)', seq: seq + 1, kind: 'access_time_invalid' },
        { tenant: '*', session: '(access trail)', seq: seq + 1, kind: 'access_unsigned' },
      ]);
      // The listing an auditor is handed is written, and reported alike offline (a time that is none, as a line that is no record).
      const lines = [];
      for await (const l of fresh.vault.trailFile()) lines.push(JSON.parse(JSON.stringify(l)) as unknown);
      expect(lines.map((l) => (l as { at: string }).at).slice(-2)).toEqual(['1969-07-20T20:17:00.000Z', 'invalid']);
      const offline = verifyTrail(lines, { keys: await (fresh.vault as unknown as { deps: VaultDeps }).deps.trustedKeys() });
      expect(offline.problems.map((p) => `${p.seq ?? '-'} ${p.kind}`)).toEqual(['- malformed_record', `${seq} access_time_invalid`, `${seq} access_unsigned`]);
    } finally {
      await fresh.close();
    }
  });

  it('refuses the operation when the trail head cannot be witnessed (fail closed)', async () => {
    const unreachable = await testVault(backend, {
      witness: 's3://witness/x',
      s3: { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 },
    });
    try {
      await unreachable.vault.createTenant('bank');
      await unreachable.vault.session('bank', 's').append({ type: 'task', task: 't' }); // appends never wait on the witness
      const op = unreachable.vault.operator({ actor: 'mallory' });
      await expect(op.events('bank', 's')).rejects.toMatchObject({ code: 'ACCESS_TRAIL_UNAVAILABLE', message: expect.stringMatching(/cannot be witnessed at s3:\/\/witness\/x/) });
      await expect(op.export('bank', 's', { decrypt: true })).rejects.toMatchObject({ code: 'ACCESS_TRAIL_UNAVAILABLE' });
      // Creating a tenant, like appending, does not wait on the witness: its record is
      // witnessed with the next one.
      await expect(unreachable.vault.createTenant('second')).resolves.toMatchObject({ tenant: 'second' });
    } finally {
      await unreachable.close();
    }
  });

  it('the vault\'s role cannot append a correctly chained record without the signing key', async () => {
    const fresh = await testVault(backend, { witness: false });
    try {
      await fresh.vault.createTenant('bank');
      await fresh.vault.session('bank', 's').append({ type: 'task', task: 't' });
      await fresh.vault.operator({ actor: 'alice' }).export('bank', 's');
      expect((await fresh.vault.verify()).ok).toBe(true);
      // As the vault's database role, chaining a forged record onto the last one.
      const db = storeOf(fresh.vault).db;
      const last = (await lastAccess(db))!;
      const forged = { seq: last.seq + 1, at: new Date(), actor: 'auditor', action: 'export', tenant: 'bank', session: 's', reason: 'routine', outcome: 'granted', salt: new Uint8Array(randomBytes(16)) };
      await appendAccess(storeOf(fresh.vault), [{ ...forged, hash: accessHash(last.hash, forged), keyId: null, signature: null }]);
      const forged2 = { ...forged, seq: forged.seq + 1 };
      const h1 = accessHash(last.hash, forged);
      await appendAccess(storeOf(fresh.vault), [{ ...forged2, hash: accessHash(h1, forged2), keyId: 'ed25519:0000000000000000', signature: new Uint8Array(64) }]);
      // Malformed byte columns are refused before anything is written.
      const before = (await lastAccess(db))!.seq;
      const next = { ...forged2, seq: forged2.seq + 1 };
      // A record in the v1 form (no salt), which every tenant's listing would show in full, is refused by the database (0060).
      const v1 = { ...next, salt: null };
      expect(await refusal(appendAccess(storeOf(fresh.vault), [{ ...v1, hash: accessHash((await lastAccess(db))!.hash, v1), keyId: null, signature: null }]))).toMatch(/access_log_salted/);
      await expect(appendAccess(storeOf(fresh.vault), [{ ...next, hash: new Uint8Array(31), keyId: null, signature: null }])).rejects.toThrow(RangeError);
      await expect(appendAccess(storeOf(fresh.vault), [{ ...next, hash: new Uint8Array(32), keyId: 'ed25519:0000000000000000', signature: new Uint8Array(63) }])).rejects.toThrow(RangeError);
      await expect(appendAccess(storeOf(fresh.vault), [{ ...next, salt: new Uint8Array(15), hash: new Uint8Array(32), keyId: null, signature: null }])).rejects.toThrow(RangeError);
      // A listing after a seq that is not one is refused, typed.
      await expect(fresh.vault.trailFile(undefined, { afterSeq: -1 }).next()).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect(() => fresh.vault.accessLog({ afterSeq: Number.NaN })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
      await expect(fresh.vault.trailFile({ tenant: 'no such/tenant' }).next()).rejects.toMatchObject({ code: 'INVALID_ID' });
      expect((await lastAccess(db))!.seq).toBe(before);
      expect((await fresh.vault.verify({ tenant: 'bank' })).problems).toEqual([
        { tenant: '*', session: '(access trail)', seq: forged.seq, kind: 'access_unsigned' },
        { tenant: '*', session: '(access trail)', seq: forged2.seq, kind: 'access_bad_signature' },
      ]);
    } finally {
      await fresh.close();
    }
  });
});

describe('the access trail from the CLI', () => {
  it('requires --actor for commands that decrypt, and records actor and reason', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-access-'));
    const run = (args: string[], env: Record<string, string> = {}) => runCli({ VAULT_HOME: home, ...env }, args);
    try {
      expect((await run(['init'])).code).toBe(0);
      expect((await run(['tenant', 'create', 'bank'])).code).toBe(0);
      expect((await run(['append', 'bank', 's', '--event', '{"type":"message","role":"user","content":"secret"}'])).code).toBe(0);
      for (const args of [['events', 'bank', 's'], ['replay', 'bank', 's'], ['export', 'bank', 's', '--out', path.join(home, 'b.json')]]) {
        const refused = await run(args);
        expect(refused.code).toBe(2);
        expect(refused.stderr.trim()).toMatch(/^error\[ACTOR_REQUIRED\]/);
        expect(refused.stdout).toBe('');
      }
      expect((await run(['events', 'bank', 's', '--actor', 'alice', '--reason', 'ticket 9'])).stdout).toContain('secret');
      expect((await run(['replay', 'bank', 's', '--reason', 'ticket 9'], { VAULT_ACTOR: 'bob' })).code).toBe(0);
      expect((await run(['export', 'bank', 's', '--out', path.join(home, 'b.json'), '--decrypt', '--actor', 'carol'])).code).toBe(0);
      const log = await run(['access-log', '--tenant', 'bank', '--json']);
      expect(log.code).toBe(0);
      expect(log.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((r) => [r.seq, r.actor, r.action, r.reason, r.outcome])).toEqual([
        [1, '(default)', 'retention.set:30d/7y', 'tenant created', 'granted'],
        [2, 'alice', 'events', 'ticket 9', 'granted'],
        [3, 'bob', 'replay', 'ticket 9', 'granted'],
        [4, 'carol', 'export-decrypted', null, 'granted'],
      ]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

/**
 * What an auditor is handed besides the trail, each by its own channel, as files in a folder
 * of their own: the vault's public keys and the witness's trail head, as the witness in
 * `home` holds them now. `file` writes any other.
 */
function auditorFiles(home: string, auditorHome: string) {
  const file = (name: string, text: string) => {
    const f = path.join(auditorHome, name);
    writeFileSync(f, text);
    return f;
  };
  const keys = file('public-keys.json', readFileSync(path.join(home, 'witness', 'public-keys.json'), 'utf8'));
  const head = file('access-trail.checkpoint', readFileSync(path.join(home, 'witness', 'access-trail.checkpoint'), 'utf8'));
  return { file, keys, head };
}

describe('the access trail handed to an auditor', () => {
  it('verify-trail checks the file access-log --json writes, alone: an operator who drops, changes or re-signs a record, or cuts the end, is caught', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-trail-'));
    const auditorHome = mkdtempSync(path.join(os.tmpdir(), 'sv-trail-auditor-'));
    const run = (args: string[], env: Record<string, string> = {}) => runCli({ VAULT_HOME: home, ...env }, args);
    const auditor = (args: string[]) => runCli({ VAULT_HOME: auditorHome, VAULT_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', VAULT_KEYRING: '/nonexistent' }, args);
    try {
      expect((await run(['init'])).code).toBe(0);
      expect((await run(['tenant', 'create', 'bank'])).code).toBe(0);
      expect((await run(['append', 'bank', 'claim-8812', '--event', '{"type":"message","role":"user","content":"my card number"}'])).code).toBe(0);
      expect((await run(['events', 'bank', 'claim-8812', '--actor', 'mallory', '--reason', 'curious'])).code).toBe(0);
      expect((await run(['replay', 'bank', 'claim-8812', '--actor', 'alice', '--reason', 'ticket 9'])).code).toBe(0);
      const listed = await run(['access-log', '--json']);
      expect(listed.code).toBe(0);
      const lines = listed.stdout.trim().split('\n');
      expect(lines.map((l) => JSON.parse(l)).map((r) => [r.seq, r.actor, r.action, typeof r.hash, typeof r.keyId, typeof r.signature])).toEqual([
        [1, '(default)', 'retention.set:30d/7y', 'string', 'string', 'string'],
        [2, 'mallory', 'events', 'string', 'string', 'string'],
        [3, 'alice', 'replay', 'string', 'string', 'string'],
      ]);
      // What the auditor is handed: the trail, the vault's keys and the witness's trail head (each by its own channel).
      const { file, keys, head } = auditorFiles(home, auditorHome);
      const check = async (trail: string[], withHead = true) => {
        const r = await auditor(['verify-trail', file('trail.ndjson', trail.join('\n') + '\n'), '--trusted-keys', keys, ...(withHead ? ['--witness-head', head] : []), '--json']);
        return { code: r.code, report: JSON.parse(r.stdout) as { ok: boolean; records: number; problems: { kind: string; seq?: number }[] } };
      };
      const kinds = async (trail: string[], withHead = true) => (await check(trail, withHead)).report.problems.map((p) => `${p.seq ?? '-'} ${p.kind}`);
      expect(await check(lines)).toEqual({ code: 0, report: expect.objectContaining({ ok: true, records: 3, lastSeq: 3, witnessedSeq: 3, problems: [] }) });
      const text = await auditor(['verify-trail', file('trail.ndjson', listed.stdout), '--trusted-keys', keys]);
      expect([text.code, text.stdout]).toEqual([0, expect.stringMatching(/^OK: access trail, 3 record\(s\) to seq 3\nend: not checked \(pass the witness's access-trail\.checkpoint/)]);

      // The operator drops mallory's read.
      expect(await kinds([lines[0]!, lines[2]!])).toEqual(['2 access_gap', '3 access_hash_mismatch']);
      // ... or gives it another reason.
      expect(await kinds([lines[0]!, lines[1]!.replace('"curious"', '"ticket 9"'), lines[2]!])).toEqual(['2 access_hash_mismatch']);
      // ... or cuts the end: only the witness's head shows it.
      expect(await kinds(lines.slice(0, 2), false)).toEqual([]);
      expect(await kinds(lines.slice(0, 2))).toEqual(['3 access_witness_beyond_head']);
      // ... or rewrites the reason with every hash recomputed and signs the heads again with a key of their own.
      await ensureSodium();
      const forged = generateSigningKeyPair();
      const signer = { id: signingKeyId(forged.publicKey), publicKey: forged.publicKey, secretKey: forged.secretKey };
      let prev = GENESIS_HASH;
      const rewritten = lines.map((l) => {
        const r = JSON.parse(l.replace('"curious"', '"ticket 9"')) as Record<string, unknown> & { seq: number; at: string };
        const record = { seq: r.seq, at: new Date(r.at), actor: r.actor as string, action: r.action as string, tenant: r.tenant as string | null, session: r.session as string | null, reason: r.reason as string | null, outcome: r.outcome as string, salt: fromHex(r.salt as string), tenantSecret: r.tenantSecret ? fromHex(r.tenantSecret as string) : null, sessionKeyed: r.sessionKeyed === true };
        const hash = accessHash(prev, record);
        prev = hash;
        const { keyId, signature } = signTrailHead({ seq: r.seq, hash, at: record.at }, signer);
        return JSON.stringify({ ...r, hash: Buffer.from(hash).toString('hex'), keyId, signature: Buffer.from(signature).toString('base64') });
      });
      expect(await kinds(rewritten)).toEqual(['1 access_bad_signature', '2 access_bad_signature', '3 access_bad_signature', '3 access_witness_mismatch']);

      // What is not a trail, or not a check, is said so.
      expect(await kinds(['{"seq": 1}', 'not json'])).toEqual(['- malformed_record', '- malformed_record', '3 access_witness_beyond_head']);
      expect((await check([])).report.problems.map((p) => p.kind)).toEqual(['access_witness_beyond_head', 'empty_trail']);
      const noKeys = await auditor(['verify-trail', file('t.ndjson', listed.stdout)]);
      expect([noKeys.code, noKeys.stdout, noKeys.stderr.trim()]).toEqual([2, '', expect.stringMatching(/^error\[INVALID_INPUT\]: verify-trail needs --trusted-keys/)]);
      const garbledHead = await auditor(['verify-trail', file('t.ndjson', listed.stdout), '--trusted-keys', keys, '--witness-head', file('bad.checkpoint', 'not a note\n'), '--json']);
      expect([garbledHead.code, (JSON.parse(garbledHead.stdout) as { problems: { kind: string }[] }).problems.map((p) => p.kind)]).toEqual([1, ['malformed_witness_head']]);
    } finally {
      rmSync(home, { recursive: true, force: true });
      rmSync(auditorHome, { recursive: true, force: true });
    }
  });

  it("a tenant's auditor checks the tenant's listing alone (or one session's), reading no other tenant's records: an operator who leaves out or withholds one of the tenant's records is caught", async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-trail-'));
    const auditorHome = mkdtempSync(path.join(os.tmpdir(), 'sv-trail-auditor-'));
    const run = (args: string[]) => runCli({ VAULT_HOME: home }, args);
    const auditor = (args: string[]) => runCli({ VAULT_HOME: auditorHome, VAULT_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', VAULT_KEYRING: '/nonexistent' }, args);
    try {
      expect((await run(['init'])).code).toBe(0);
      for (const t of ['bank', 'insurer']) expect((await run(['tenant', 'create', t])).code).toBe(0);
      expect((await run(['append', 'bank', 'claim-8812', '--event', '{"type":"message","role":"user","content":"my card number"}'])).code).toBe(0);
      expect((await run(['append', 'insurer', 'policy-77', '--event', '{"type":"message","role":"user","content":"my diagnosis"}'])).code).toBe(0);
      expect((await run(['events', 'bank', 'claim-8812', '--actor', 'mallory', '--reason', 'curious'])).code).toBe(0);
      expect((await run(['replay', 'insurer', 'policy-77', '--actor', 'carol', '--reason', 'fraud case 4471'])).code).toBe(0);
      expect((await run(['replay', 'bank', 'claim-8812', '--actor', 'alice', '--reason', 'ticket 9'])).code).toBe(0);

      // What the bank's auditor is handed: the bank's listing, the vault's keys and the witness's trail head.
      const listed = await run(['access-log', '--json', '--tenant', 'bank']);
      expect(listed.code).toBe(0);
      const lines = listed.stdout.trim().split('\n');
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(parsed.map((r) => [r.seq, r.withheld ? 'withheld' : `${r.actor as string} ${r.action as string} ${r.tenant as string}`])).toEqual([
        [1, '(default) retention.set:30d/7y bank'],
        [2, 'withheld'],
        [3, 'mallory events bank'],
        [4, 'withheld'],
        [5, 'alice replay bank'],
      ]);
      // Nothing of the insurer's records is in it: not its name, its session, its operator or their reason.
      for (const secret of ['insurer', 'policy-77', 'carol', 'fraud case']) expect(listed.stdout).not.toContain(secret);
      const { file, keys, head } = auditorFiles(home, auditorHome);
      const check = async (trail: string[], tenant: string | null = 'bank', secret?: string) => {
        const r = await auditor(['verify-trail', file('trail.ndjson', trail.join('\n') + '\n'), '--trusted-keys', keys, '--witness-head', head, ...(tenant ? ['--tenant', tenant] : []), ...(secret ? ['--tenant-secret', secret] : []), '--json']);
        return { code: r.code, report: JSON.parse(r.stdout) as { ok: boolean; shown: number; withheld: number; tenantSecret: string | null; problems: { kind: string; seq?: number }[] } };
      };
      const kinds = async (trail: string[], tenant: string | null = 'bank', secret?: string) => (await check(trail, tenant, secret)).report.problems.map((p) => `${p.seq ?? '-'} ${p.kind}`);
      expect(await check(lines)).toEqual({ code: 0, report: expect.objectContaining({ ok: true, records: 5, lastSeq: 5, witnessedSeq: 5, scope: { tenant: 'bank' }, shown: 3, withheld: 2, problems: [] }) });
      const text = await auditor(['verify-trail', file('trail.ndjson', listed.stdout), '--trusted-keys', keys, '--witness-head', head, '--tenant', 'bank']);
      expect([text.code, text.stdout]).toEqual([0, 'OK: access trail for tenant bank, 5 record(s) to seq 5, checked against the witnessed head at seq 5\n  3 record(s) shown, of tenant bank or the whole vault; 2 withheld, none of them in that scope\n']);

      const checkedBefore = file('checked-before.checkpoint', readFileSync(head, 'utf8'));

      // The operator leaves out mallory's read of the bank's session.
      expect(await kinds([lines[0]!, lines[1]!, lines[3]!, lines[4]!])).toEqual(['3 access_gap', '4 access_hash_mismatch']);
      // ... or withholds it as if it were another tenant's: its digests are the true ones, so the chain holds, but its tenant is the bank.
      const mallory = parsed[2]! as { seq: number; at: string; actor: string; action: string; tenant: string; session: string; reason: string; outcome: string; salt: string; tenantSecret: string; hash: string; keyId: string; signature: string; storedAt: string };
      const digests = accessDigests({ ...mallory, at: new Date(mallory.at), salt: fromHex(mallory.salt), tenantSecret: fromHex(mallory.tenantSecret) });
      const asWithheld = (tenantDigest: Uint8Array) => JSON.stringify({ seq: mallory.seq, at: mallory.at, withheld: { tenant: toHex(tenantDigest), session: toHex(digests.session), fields: toHex(digests.fields) }, hash: mallory.hash, keyId: mallory.keyId, signature: mallory.signature, storedAt: mallory.storedAt });
      const withheld = [lines[0]!, lines[1]!, asWithheld(digests.tenant), lines[3]!, lines[4]!];
      expect(await kinds(withheld)).toEqual(['3 own_record_withheld']);
      // ... or claims its tenant is the insurer's: then the chain does not hold.
      expect(await kinds([lines[0]!, lines[1]!, asWithheld(tenantCommitment(3, 'insurer')), lines[3]!, lines[4]!])).toEqual(['3 access_hash_mismatch']);
      // ... or changes the reason of the bank's record.
      expect(await kinds([lines[0]!, lines[1]!, lines[2]!.replace('"curious"', '"ticket 9"'), lines[3]!, lines[4]!])).toEqual(['3 access_hash_mismatch']);
      // A listing with records withheld is not the whole trail; the insurer's auditor finds their own records withheld in the bank's.
      expect(await kinds(lines, null)).toEqual(['2 record_withheld', '4 record_withheld']);
      // The insurer's own listing checks, and shows the bank's records only as digests; its auditor keeps the insurer's trail secret it reports.
      const insurer = await run(['access-log', '--json', '--tenant', 'insurer']);
      expect(insurer.stdout).not.toContain('mallory');
      const insurerReport = (await check(insurer.stdout.trim().split('\n'), 'insurer')).report;
      expect(insurerReport).toEqual(expect.objectContaining({ ok: true, shown: 2, withheld: 3, tenantSecret: expect.stringMatching(/^[0-9a-f]{64}$/) }));
      const insurerSecret = file('insurer.secret', insurerReport.tenantSecret! + '\n');
      // By it, the insurer's auditor finds their own records withheld in the bank's listing; without it, that they cannot tell.
      expect(await kinds(lines, 'insurer', insurerSecret)).toEqual(['2 own_record_withheld', '4 own_record_withheld']);
      expect(await kinds(lines, 'insurer')).toEqual(['- tenant_secret_unknown']);
      const untold = await auditor(['verify-trail', file('trail.ndjson', listed.stdout), '--trusted-keys', keys, '--witness-head', head, '--tenant', 'insurer']);
      expect([untold.code, untold.stdout.split('\n').slice(1, 3)]).toEqual([
        1,
        [
          "  0 record(s) shown, of tenant insurer or the whole vault; 2 withheld, which cannot be told from that scope's without the tenant's trail secret",
          expect.stringMatching(/^  tenant_secret_unknown: 2 record\(s\) withheld, and no record of tenant insurer shown carries its trail secret/),
        ],
      ]);
      // A secret that is not one is refused before anything is checked.
      const badSecret = await auditor(['verify-trail', file('trail.ndjson', listed.stdout), '--trusted-keys', keys, '--tenant', 'bank', '--tenant-secret', file('bad.secret', 'bank\n')]);
      expect([badSecret.code, badSecret.stdout, badSecret.stderr.trim()]).toEqual([2, '', expect.stringMatching(/^error\[INVALID_INPUT\]: .*bad\.secret: not a tenant's trail secret/)]);
      const noScope = await auditor(['verify-trail', file('trail.ndjson', listed.stdout), '--trusted-keys', keys, '--tenant-secret', insurerSecret]);
      expect([noScope.code, noScope.stdout, noScope.stderr.trim()]).toEqual([2, '', "error[INVALID_INPUT]: --tenant-secret is a tenant's: give it with --tenant"]);
      // One session's listing: the bank's records of other sessions (its policy) withheld as well.
      expect((await run(['append', 'bank', 'claim-9000', '--event', '{"type":"message","role":"user","content":"another claim"}'])).code).toBe(0);
      expect((await run(['events', 'bank', 'claim-9000', '--actor', 'dave', '--reason', 'claim 9000 review'])).code).toBe(0);
      const session = await run(['access-log', '--json', '--tenant', 'bank', '--session', 'claim-8812']);
      expect(session.stdout).not.toMatch(/claim-9000|dave|retention\.set/);
      const sessionLines = session.stdout.trim().split('\n');
      const sessionFile = file('session.ndjson', session.stdout);
      const newHead = file('access-trail.checkpoint', readFileSync(path.join(home, 'witness', 'access-trail.checkpoint'), 'utf8'));
      const text2 = await auditor(['verify-trail', sessionFile, '--trusted-keys', keys, '--witness-head', newHead, '--tenant', 'bank', '--session', 'claim-8812']);
      expect([text2.code, text2.stdout]).toEqual([0, 'OK: access trail for session bank/claim-8812, 6 record(s) to seq 6, checked against the witnessed head at seq 6\n  2 record(s) shown, of session bank/claim-8812; 4 withheld, none of them in that scope\n']);
      // The listing shows claim-8812's records with that session's trail key, not the bank's secret: claim-9000's auditor, holding claim-9000's key, is the one who finds claim-9000's read withheld in it.
      expect(session.stdout).not.toMatch(/tenantSecret/);
      const theirs = await run(['access-log', '--json', '--tenant', 'bank', '--session', 'claim-9000']);
      const theirReport = await auditor(['verify-trail', file('theirs.ndjson', theirs.stdout), '--trusted-keys', keys, '--tenant', 'bank', '--session', 'claim-9000', '--json']);
      const theirKey = file('claim-9000.key', `${(JSON.parse(theirReport.stdout) as { sessionKey: string }).sessionKey}\n`);
      const asOther = await auditor(['verify-trail', sessionFile, '--trusted-keys', keys, '--witness-head', newHead, '--tenant', 'bank', '--session', 'claim-9000', '--session-key', theirKey, '--json']);
      expect([asOther.code, (JSON.parse(asOther.stdout) as { problems: { kind: string; seq: number }[] }).problems.map((p) => `${p.seq} ${p.kind}`)]).toEqual([1, ['6 own_record_withheld']]);
      // Without it, the listing cannot be told apart for claim-9000: not taken as checked.
      const unkeyed = await auditor(['verify-trail', sessionFile, '--trusted-keys', keys, '--witness-head', newHead, '--tenant', 'bank', '--session', 'claim-9000']);
      expect([unkeyed.code, unkeyed.stdout.split('\n')[1]]).toEqual([1, "  0 record(s) shown, of session bank/claim-9000; 4 withheld, which cannot be told from that scope's without the session's trail key"]);
      // A key that is not one, or one given for no session, is refused before anything is checked.
      const badKey = await auditor(['verify-trail', sessionFile, '--trusted-keys', keys, '--tenant', 'bank', '--session', 'claim-9000', '--session-key', file('bad.key', 'claim-9000\n')]);
      expect([badKey.code, badKey.stdout, badKey.stderr.trim()]).toEqual([2, '', expect.stringMatching(/^error\[INVALID_INPUT\]: .*bad\.key: not a session's trail key/)]);
      const keyNoSession = await auditor(['verify-trail', sessionFile, '--trusted-keys', keys, '--tenant', 'bank', '--session-key', theirKey]);
      expect([keyNoSession.code, keyNoSession.stdout, keyNoSession.stderr.trim()]).toEqual([2, '', "error[INVALID_INPUT]: --session-key is a session's: give it with --tenant and --session"]);
      expect(sessionLines.length).toBe(6);

      // At the next check, the bank's auditor takes only the records after the head they checked (seq 5), and checks them from it.
      const next = await run(['access-log', '--json', '--tenant', 'bank', '--after-seq', '5']);
      expect(next.stdout.trim().split('\n').map((l) => JSON.parse(l).seq)).toEqual([6]);
      const nextFile = file('next.ndjson', next.stdout);
      const fromHead = (trail: string, from = checkedBefore) => auditor(['verify-trail', trail, '--trusted-keys', keys, '--witness-head', newHead, '--from-head', from, '--tenant', 'bank', '--json']);
      const incremental = await auditor(['verify-trail', nextFile, '--trusted-keys', keys, '--witness-head', newHead, '--from-head', checkedBefore, '--tenant', 'bank']);
      expect([incremental.code, incremental.stdout]).toEqual([
        0,
        "OK: access trail for tenant bank, 1 record(s) after the head checked before at seq 5, to seq 6, checked against the witnessed head at seq 6\n  1 record(s) shown, of tenant bank or the whole vault; 0 withheld, none of them in that scope\n",
      ]);
      const problemsOf = async (r: Promise<{ code: number | null; stdout: string }>) => {
        const out = await r;
        return [out.code, (JSON.parse(out.stdout) as { problems: { kind: string; seq?: number }[] }).problems.map((p) => `${p.seq ?? '-'} ${p.kind}`)];
      };
      // The operator hands over nothing new, or a listing that does not chain onto the head checked before.
      expect(await problemsOf(fromHead(file('none.ndjson', '')))).toEqual([1, ['6 access_witness_beyond_head']]);
      expect(await problemsOf(fromHead(file('whole.ndjson', listed.stdout)))).toEqual([1, expect.arrayContaining(['6 access_gap'])]);
      // A head checked before that is not a note, or that no trusted key signed, is said so.
      expect(await problemsOf(fromHead(nextFile, file('bad-from.checkpoint', 'not a note\n')))).toEqual([1, ['- malformed_from_head', '1 access_gap', '6 access_hash_mismatch']]);
      const forgedFrom = readFileSync(checkedBefore, 'utf8').replace(/\n5\n/, '\n4\n');
      expect(await problemsOf(fromHead(nextFile, file('forged-from.checkpoint', forgedFrom)))).toEqual([1, expect.arrayContaining(['4 access_bad_signature'])]);
      const badAfter = await run(['access-log', '--json', '--after-seq', '-1']);
      expect([badAfter.code, badAfter.stdout]).toEqual([2, '']);

      const badTenant = await auditor(['verify-trail', file('t.ndjson', listed.stdout), '--trusted-keys', keys, '--tenant', 'no such/tenant']);
      expect([badTenant.code, badTenant.stdout]).toEqual([2, '']);
      const sessionAlone = await auditor(['verify-trail', file('t.ndjson', listed.stdout), '--trusted-keys', keys, '--session', 'claim-8812']);
      expect([sessionAlone.code, sessionAlone.stderr.trim()]).toEqual([2, 'error[INVALID_INPUT]: --session needs --tenant: a session is one of a tenant\'s']);
      const listAlone = await run(['access-log', '--json', '--session', 'claim-8812']);
      expect([listAlone.code, listAlone.stdout]).toEqual([2, '']);

      // The session's listing above carried no secret of the bank's, and said nothing. A session whose trail holds a record
      // written before 0062 (v3, as a process of an earlier version still writes it) hands the bank's secret out: the operator is told.
      expect(session.stderr).toBe('');
      const v = await openVault({ home, logger: createLogger({ level: 'silent' }) });
      try {
        const last = (await lastAccess(storeOf(v).db))!;
        const secret = (await tenantSecrets(storeOf(v), ['bank'])).get('bank')!;
        const r = { seq: last.seq + 1, at: new Date(), actor: 'old-version', action: 'events', tenant: 'bank', session: 'claim-8812', reason: null, outcome: 'granted', salt: new Uint8Array(randomBytes(16)), tenantSecret: secret };
        const hash = accessHash(last.hash, r);
        const { keyId, signature } = signTrailHead({ seq: r.seq, hash, at: r.at }, (await (v as unknown as { deps: VaultDeps }).deps.signer())!);
        await appendAccess(storeOf(v), [{ ...r, hash, keyId, signature }]);
      } finally {
        await v.close();
      }
      const old = await run(['access-log', '--json', '--tenant', 'bank', '--session', 'claim-8812']);
      expect([old.code, old.stderr.trim()]).toEqual([0, "warning: 1 record(s) of session bank/claim-8812 predate migration 0062 and carry tenant bank's trail secret, by which its holder can try the tenant's other session ids: hand this listing only to whom the tenant's own listing may go"]);
      expect((await run(['access-log', '--json', '--tenant', 'bank'])).stderr).toBe('');
    } finally {
      rmSync(home, { recursive: true, force: true });
      rmSync(auditorHome, { recursive: true, force: true });
    }
  });
});
