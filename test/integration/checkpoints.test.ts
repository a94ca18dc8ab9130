import { cpSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { backends, dropCreatedDatabases, tempHome, adminUrl, type Backend } from '../support/backends';
import { asOwner } from '../support/owner';
import { openVault, type Vault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { eventHash, GENESIS_HASH } from '../../src/events';
import type { StoredEvent, EventType } from '../../src/domain';
import { readKeyringDocument, replaceKeyringFile, withNewSigningKey } from '../../src/keys';
import { signCheckpoint } from '../../src/audit';
import { SecretBytes } from '../../src/crypto';

/**
 * Signed checkpoints and the witness catch what a consistent chain alone cannot: a
 * truncated tail, a chain recomputed after an edit, and a database rolled back.
 */
afterAll(dropCreatedDatabases);

const task = (t: string) => ({ type: 'task', task: t });

describe.each(backends())('signed checkpoints and the witness on $name', (backend: Backend) => {
  let home: string;
  let cleanup: () => void;
  let url: string | undefined;
  let vault: Vault;
  const open = (database = url) => openVault({ home, database, logger: createLogger({ level: 'silent' }) });

  beforeEach(async () => {
    ({ home, cleanup } = await tempHome());
    url = backend.name === 'pglite' ? undefined : await backend.database(); // PGlite on disk, so it can be copied
    vault = await open();
    await vault.createTenant('bank');
  });
  afterEach(async () => {
    await vault.close();
    cleanup();
  });

  it('signs every appended batch and every on-demand checkpoint', async () => {
    await vault.session('bank', 's').append(task('a'));
    await vault.session('bank', 's').appendMany([task('b'), task('c')]);
    const [cp] = await vault.checkpoint({ tenant: 'bank' });
    expect(cp).toMatchObject({ tenant: 'bank', session: 's', seq: 3, witness: 'recorded' });
    expect((await vault.checkpoint({ tenant: 'bank' }))[0]!.witness).toBe('unchanged');
    const rows = await asOwner(vault, url ?? 'pglite', [{ text: `SELECT seq::int AS seq FROM checkpoints ORDER BY seq` }]);
    expect((rows[0] as { seq: number }[]).map((r) => r.seq)).toEqual([1, 3]);
    expect(await vault.verify()).toMatchObject({ ok: true, problems: [] });
  });

  it('detects a truncated tail whose checkpoints were deleted too, through the witness', async () => {
    const s = vault.session('bank', 'trunc');
    for (const t of ['a', 'b', 'c', 'd', 'e']) await s.append(task(t));
    await vault.checkpoint();
    const w = `tenant_id = 'bank' AND session_id = 'trunc'`;
    // A consistent-looking database: tail events, their checkpoints and the head (its last-event time too) all rewound to seq 3.
    await asOwner(vault, url ?? 'pglite', [
      { text: `DELETE FROM events WHERE ${w} AND seq > 3` },
      { text: `DELETE FROM checkpoints WHERE ${w} AND seq > 3` },
      { text: `UPDATE sessions SET head_seq = 3, head_hash = (SELECT hash FROM events WHERE ${w} AND seq = 3), last_at = (SELECT at FROM events WHERE ${w} AND seq = 3) WHERE ${w}` },
    ]);
    const report = await vault.verify();
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([{ tenant: 'bank', session: 'trunc', seq: 5, kind: 'witness_beyond_head' }]);
  });

  it('detects a chain recomputed after an edit, against the signed heads', async () => {
    const s = vault.session('bank', 'rewritten');
    for (const t of ['a', 'b', 'c', 'd']) await s.append(task(t));
    const w = `tenant_id = 'bank' AND session_id = 'rewritten'`;
    const [rows] = await asOwner(vault, url ?? 'pglite', [{ text: `SELECT * FROM events WHERE ${w} ORDER BY seq` }]);
    // Edit event 2, then recompute every hash from it on and the session head: no key is needed for that.
    let prev: Uint8Array = GENESIS_HASH;
    const statements = [];
    for (const r of rows as Record<string, any>[]) {
      const e: Omit<StoredEvent, 'hash'> = {
        tenant: r.tenant_id, session: r.session_id, seq: Number(r.seq), type: r.type as EventType, at: new Date(r.at),
        correlationId: r.correlation_id, idempotencyKey: r.idempotency_key, tool: r.tool, promptTokens: r.prompt_tokens,
        completionTokens: r.completion_tokens, costUsd: r.cost_usd, durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
        keyVersion: r.key_version, nonce: new Uint8Array(r.nonce), ciphertext: new Uint8Array(r.ciphertext),
      };
      if (e.seq === 2) e.ciphertext[0]! ^= 0xff;
      const hash = eventHash(prev, e);
      prev = hash;
      statements.push({ text: `UPDATE events SET ciphertext = $1, hash = $2 WHERE ${w} AND seq = $3`, values: [Buffer.from(e.ciphertext), Buffer.from(hash), e.seq] });
    }
    statements.push({ text: `UPDATE sessions SET head_hash = $1 WHERE ${w}`, values: [Buffer.from(prev)] });
    await asOwner(vault, url ?? 'pglite', statements);

    const report = await vault.verify({ tenant: 'bank', session: 'rewritten' });
    expect(report.problems.map((p) => p.kind)).not.toContain('hash_mismatch'); // the chain itself is consistent…
    expect(report.problems).toEqual([2, 3, 4].map((seq) => ({ tenant: 'bank', session: 'rewritten', seq, kind: 'checkpoint_mismatch' }))); // …but not with what was signed
  });

  it('detects the database rolled back to an older, consistent copy', async () => {
    const s = vault.session('bank', 'rolled');
    await s.appendMany([task('a'), task('b'), task('c')]);
    await vault.checkpoint();
    await vault.close();
    const restore = await snapshot();
    vault = await open();
    await vault.session('bank', 'rolled').appendMany([task('d'), task('e')]);
    await vault.session('bank', 'later').append(task('x'));
    expect((await vault.checkpoint()).map((c) => [c.session, c.seq, c.witness])).toEqual([
      ['later', 1, 'recorded'],
      ['rolled', 5, 'recorded'],
    ]);
    await vault.close();

    await restore(); // the database is now the older copy; the witness outside it is not
    vault = await open();
    const report = await vault.verify();
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      { tenant: 'bank', session: 'rolled', seq: 5, kind: 'witness_beyond_head' },
      { tenant: 'bank', session: 'later', seq: 1, kind: 'session_missing' },
    ]);
    // The witness refuses to move back to the rolled-back head.
    expect((await vault.checkpoint({ tenant: 'bank', session: 'rolled' }))[0]!.witness).toBe('witness_ahead');
  });

  it('signs with the new key once it rotates, keeps verifying old checkpoints, and refuses the retired key afterwards', async () => {
    await vault.session('bank', 'rotated').appendMany([task('a'), task('b')]);
    // Rotated by another process while this vault stays open, as on a running server.
    const keyring = path.join(home, 'keyring.json');
    const before = await readKeyringDocument(keyring);
    const { doc, id } = withNewSigningKey(before, new Date());
    await replaceKeyringFile(keyring, doc);
    expect(statSync(keyring).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(`${keyring}.previous`, 'utf8')).primarySigningKey).toBe(before.primarySigningKey);

    await vault.session('bank', 'rotated').append(task('c'));
    const [notes] = await asOwner(vault, url ?? 'pglite', [{ text: `SELECT key_id FROM checkpoints WHERE session_id = 'rotated' ORDER BY seq` }]);
    expect((notes as { key_id: string }[]).map((n) => n.key_id)).toEqual([before.primarySigningKey, id]);
    expect(await vault.verify()).toMatchObject({ ok: true });

    // Someone holding the retired key signs a head after its retirement: refused.
    const old = before.signingKeys[0]!;
    const retiredSigner = { id: old.id, publicKey: new Uint8Array(Buffer.from(old.publicKey, 'base64')), secretKey: SecretBytes.adopt(new Uint8Array(Buffer.from(old.secretKey, 'base64'))) };
    const [rows] = await asOwner(vault, url ?? 'pglite', [{ text: `SELECT hash FROM events WHERE session_id = 'rotated' AND seq = 3` }]);
    const hash = new Uint8Array((rows as { hash: Uint8Array }[])[0]!.hash);
    const forged = signCheckpoint({ tenant: 'bank', session: 'rotated', seq: 3, hash, time: new Date(Date.now() + 10 * 60 * 1000) }, retiredSigner); // past the 5-minute grace
    await asOwner(vault, url ?? 'pglite', [
      { text: `INSERT INTO checkpoints (tenant_id, session_id, seq, key_id, hash, signed_at, note) VALUES ('bank', 'rotated', 3, $1, $2, now(), $3)`, values: [old.id, Buffer.from(hash), forged] },
    ]);
    expect((await vault.verify()).problems).toEqual([{ tenant: 'bank', session: 'rotated', seq: 3, kind: 'checkpoint_outside_key_period' }]);
  });

  /** Copies the (closed) database; the returned function puts the copy back in its place. */
  async function snapshot(): Promise<() => Promise<void>> {
    if (backend.name === 'pglite') {
      const db = path.join(home, 'db');
      cpSync(db, `${db}-snapshot`, { recursive: true });
      return async () => {
        rmSync(db, { recursive: true, force: true });
        renameSync(`${db}-snapshot`, db);
      };
    }
    const name = new URL(url!).pathname.slice(1);
    const c = new Client({ connectionString: adminUrl() });
    await c.connect();
    await c.query(`CREATE DATABASE ${name}_snap TEMPLATE ${name}`);
    await c.end();
    return async () => {
      const a = new Client({ connectionString: adminUrl() });
      await a.connect();
      await a.query(`DROP DATABASE ${name} WITH (FORCE)`);
      await a.query(`ALTER DATABASE ${name}_snap RENAME TO ${name}`);
      await a.end();
    };
  }
});
