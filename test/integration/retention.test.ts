import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { holdLeftArchived } from '../support/held-archived';
import { asApp, asOwner } from '../support/owner';
import type { Vault } from '../../src/vault';
import { StorageError } from '../../src/errors';
import { releaseKeyOf } from '../../src/vault/vault';

/**
 * Retention on both backends: archive → read from the archive → restore → append; purge
 * with its refusals; the database function that releases hot rows; a retention run.
 * Time is a test clock, moved forward by days and years.
 */
afterAll(dropCreatedDatabases);

const DAY = 86_400_000;
const op = { actor: 'alice', reason: 'retention test' };

describe.each(backends())('retention with a $name database', (backend) => {
  let vault: Vault;
  let home: string;
  let url: string;
  let close: () => Promise<void>;
  // Years in the past: the test clock moves about six years ahead, and a purge may not be
  // stamped past the database's clock (drizzle/0045_purge_clock.sql).
  let now = Date.parse('2016-01-01T00:00:00Z');

  beforeAll(async () => {
    ({ vault, home, url, close } = await testVault(backend, { clock: () => new Date(now) }));
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  const conversation = [
    { type: 'message', role: 'user', content: 'What is my balance?' },
    { type: 'tool_call', callId: 'c1', tool: 'balance', input: { account: 'x' } },
    { type: 'tool_result', callId: 'c1', output: { eur: 12 } },
    { type: 'message', role: 'assistant', content: 'You have 12 EUR.' },
  ];

  it('new tenants start with the default policy, and a policy can be changed', async () => {
    expect(await vault.retention('bank')).toMatchObject({ archiveAfter: '30d', retain: '7y', source: 'tenant', setBy: '(default)' });
    await vault.operator(op).setRetention('bank', { archiveAfter: '10d', retain: '1y' });
    expect(await vault.retention('bank')).toMatchObject({ archiveAfter: '10d', retain: '1y', setBy: 'alice' });
    await expect(vault.operator(op).setRetention('bank', { archiveAfter: '2y', retain: '1y' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(vault.operator(op).setRetention('bank', { archiveAfter: '10 days', retain: '1y' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(await vault.retention('bank')).toMatchObject({ archiveAfter: '10d', retain: '1y' });
  });

  it('archives a session, reads and verifies it from the archive, restores it on append', async () => {
    const s = vault.session('bank', 'a1');
    await s.appendMany(conversation);
    const before = await s.state();
    const r = await vault.operator(op).archive('bank', 'a1');
    expect(r).toMatchObject({ outcome: 'archived', events: 4, object: 'bank/a1/4.svarc.gz' });
    // The object is where the store says, and its SHA-256 is the recorded digest.
    const file = path.join(home, 'archive', 'bank', 'a1', '4.svarc.gz');
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(r.digest);
    // Hot rows are gone; the session keeps its head.
    expect(await asApp(vault, `SELECT set_config('vault.tenant', 'bank', false)`)).toHaveLength(1);
    expect(await asApp(vault, `SELECT count(*)::int AS n FROM events WHERE session_id = 'a1'`)).toEqual([{ n: 0 }]);
    await asApp(vault, `SELECT set_config('vault.tenant', '', false)`);
    expect((await vault.sessions('bank')).find((x) => x.session === 'a1')).toMatchObject({ status: 'archived', events: 4 });
    // Reads, replay and verify work from the archive.
    expect(await s.state()).toEqual(before);
    const seen = [];
    for await (const e of s.events()) seen.push(e.seq);
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(await vault.verify({ tenant: 'bank', session: 'a1' })).toMatchObject({ ok: true, events: 4 });
    const bundle = await vault.operator(op).export('bank', 'a1');
    expect(bundle.events).toHaveLength(4);
    // Archiving again is a no-op.
    expect(await vault.operator(op).archive('bank', 'a1')).toMatchObject({ outcome: 'already' });
    // Appending restores first, then appends.
    await s.append({ type: 'message', role: 'user', content: 'Thanks' });
    expect((await vault.sessions('bank')).find((x) => x.session === 'a1')).toMatchObject({ status: 'active', events: 5 });
    expect((await s.state()).messages).toHaveLength(3);
    expect(await vault.verify({ tenant: 'bank' })).toMatchObject({ ok: true });
  });

  it('restore brings an archived session back, and archiving again makes a second object', async () => {
    const r = await vault.operator(op).archive('bank', 'a1');
    expect(r).toMatchObject({ outcome: 'archived', events: 5, object: 'bank/a1/5.svarc.gz' });
    expect(await vault.operator(op).restore('bank', 'a1')).toBe(true);
    expect(await vault.operator(op).restore('bank', 'a1')).toBe(false);
    expect((await vault.sessions('bank')).find((x) => x.session === 'a1')).toMatchObject({ status: 'active', events: 5 });
    expect(await vault.verify()).toMatchObject({ ok: true });
  });

  it('verify reports an archive object altered or deleted in the store', async () => {
    const s = vault.session('bank', 'a2');
    await s.appendMany(conversation);
    await vault.operator(op).archive('bank', 'a2');
    const file = path.join(home, 'archive', 'bank', 'a2', '4.svarc.gz');
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    bad[bad.length - 10]! ^= 1;
    writeFileSync(file, bad);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([{ tenant: 'bank', session: 'a2', seq: 4, kind: 'archive_corrupt' }]);
    await expect(s.state()).rejects.toMatchObject({ code: 'ARCHIVE_CORRUPT' });
    rmSync(file);
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([{ tenant: 'bank', session: 'a2', seq: 4, kind: 'archive_missing' }]);
    await expect(vault.operator(op).restore('bank', 'a2')).rejects.toMatchObject({ code: 'ARCHIVE_MISSING' });
    writeFileSync(file, good);
    expect(await vault.verify({ tenant: 'bank' })).toMatchObject({ ok: true });
  });

  it('purge is refused for an active or not-yet-due session and under legal hold; when due it leaves a tombstone', async () => {
    const o = vault.operator(op);
    await vault.session('bank', 'p1').appendMany(conversation);
    await expect(o.purge('bank', 'p1')).rejects.toMatchObject({ code: 'SESSION_STATE' });
    await o.archive('bank', 'p1');
    await expect(o.purge('bank', 'p1')).rejects.toMatchObject({ code: 'RETENTION_NOT_DUE' });
    now += 366 * DAY; // the policy keeps 1y
    await holdLeftArchived(o, path.join(home, 'archive'), 'bank', 'p1'); // held, left archived (the hold could not restore it)
    await expect(o.purge('bank', 'p1')).rejects.toMatchObject({ code: 'LEGAL_HOLD' });
    await expect(o.shred('bank', 'p1')).rejects.toMatchObject({ code: 'LEGAL_HOLD' });
    expect((await vault.sessions('bank')).find((x) => x.session === 'p1')).toMatchObject({ status: 'archived' });
    await o.clearHold('bank', 'p1');
    const r = await o.purge('bank', 'p1');
    expect(r).toMatchObject({ session: 'p1', objectsDeleted: 1 });
    expect(existsSync(path.join(home, 'archive', 'bank', 'p1', '4.svarc.gz'))).toBe(false);
    expect((await vault.sessions('bank')).find((x) => x.session === 'p1')).toMatchObject({ status: 'purged', events: 4 });
    await expect(vault.session('bank', 'p1').state()).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    await expect(vault.session('bank', 'p1').append({ type: 'task', task: 'x' })).rejects.toMatchObject({ code: 'KEY_DESTROYED' });
    expect(await vault.verify({ tenant: 'bank' })).toMatchObject({ ok: true });
    await expect(o.purge('bank', 'p1')).rejects.toMatchObject({ code: 'SESSION_STATE' });
    await expect(o.archive('bank', 'p1')).rejects.toMatchObject({ code: 'SESSION_STATE' });
    await expect(o.restore('bank', 'p1')).rejects.toMatchObject({ code: 'SESSION_STATE' });
    await expect(o.archive('bank', 'nosuch')).rejects.toMatchObject({ code: 'UNKNOWN_SESSION' });
    await expect(o.purge('bank', 'nosuch')).rejects.toMatchObject({ code: 'UNKNOWN_SESSION' });
  });

  it('the database releases hot rows only with a verified archive record, and never deletes otherwise', async () => {
    await vault.session('bank', 'g1').appendMany(conversation);
    const cause = (e: unknown) => String((e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message);
    const release = (proof: Uint8Array) => asApp(vault, `SELECT session_vault_release_archived('bank', 'g1', 4, '\\x00'::bytea, '\\x${Buffer.from(proof).toString('hex')}'::bytea)`).catch(cause);
    expect(await release(new Uint8Array(32))).toMatch(/no release proof/);
    // With the proof a keyring holder makes, still no record: refused.
    expect(await release(await releaseKeyOf(vault).proof({ tenant: 'bank', session: 'g1', headSeq: 4, digest: new Uint8Array([0]) }))).toMatch(/no verified archive/);
    // The setting the guard reads does not let the application delete: it has no DELETE privilege.
    const del = await asApp(vault, `SELECT set_config('vault.releasing', 'bank/g1', false), set_config('vault.tenant', 'bank', false)`)
      .then(() => asApp(vault, `DELETE FROM events WHERE session_id = 'g1'`))
      .catch(cause);
    expect(del).toMatch(/permission denied/);
    await asApp(vault, `SELECT set_config('vault.releasing', '', false), set_config('vault.tenant', '', false)`);
    expect((await vault.verify({ tenant: 'bank', session: 'g1' })).ok).toBe(true);
  });

  it('retention run archives what is due, purges what is due, never a held session, restores one archived before its hold, and a rerun does nothing', async () => {
    const o = vault.operator(op);
    await vault.createTenant('ins');
    await o.setRetention('ins', { archiveAfter: '30d', retain: '2y' });
    for (const id of ['r1', 'r2', 'r3']) await vault.session('ins', id).appendMany(conversation);
    now += 10 * DAY;
    await vault.session('ins', 'r3').append({ type: 'task', task: 'recent' });
    now += 25 * DAY; // r1, r2 idle 35 days; r3 25 days
    const plan = [];
    for await (const i of o.retentionRun({ tenant: 'ins', dryRun: true })) plan.push(i);
    expect(plan.map((i) => [i.session, i.action, i.outcome])).toEqual([
      ['r1', 'archive', 'planned'],
      ['r2', 'archive', 'planned'],
    ]);
    expect((await vault.sessions('ins')).every((s) => s.status === 'active')).toBe(true);
    const done = [];
    for await (const i of o.retentionRun({ tenant: 'ins' })) done.push(i);
    expect(done.map((i) => [i.session, i.action, i.outcome])).toEqual([
      ['r1', 'archive', 'done'],
      ['r2', 'archive', 'done'],
    ]);
    const again = [];
    for await (const i of o.retentionRun({ tenant: 'ins' })) again.push(i);
    expect(again).toEqual([]);
    await o.setHold('ins', 'r2');
    now += 3 * 366 * DAY;
    const later = [];
    for await (const i of o.retentionRun({ tenant: 'ins' })) later.push(i);
    // r2, archived before its hold, was brought back to the database by the hold, where its events stay while held.
    expect(later.map((i) => [i.session, i.action, i.outcome])).toEqual([
      ['r1', 'purge', 'done'],
      ['r3', 'archive', 'done'],
    ]);
    expect((await vault.sessions('ins')).map((s) => [s.session, s.status])).toEqual([
      ['r1', 'purged'],
      ['r2', 'active'],
      ['r3', 'archived'],
    ]);
    expect(await vault.verify()).toMatchObject({ ok: true });
    const actions = [];
    for await (const a of vault.accessLog({ tenant: 'ins' })) actions.push(a.action);
    expect(actions).toEqual(expect.arrayContaining(['retention.set:30d/2y', 'retention.archive', 'retention.purge', 'retention.restore']));
  });

  it('an unreachable archive store leaves the session hot and fails with STORAGE_UNAVAILABLE', async () => {
    const t = await testVault(backend, {
      archive: 's3://archive/x',
      s3: { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } },
    });
    try {
      await t.vault.createTenant('bank');
      await t.vault.session('bank', 's').appendMany(conversation);
      await expect(t.vault.operator(op).archive('bank', 's')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', message: expect.stringMatching(/^archive s3:\/\/archive\/x unavailable/) });
      expect((await t.vault.sessions('bank'))[0]).toMatchObject({ status: 'active', events: 4 });
      expect((await t.vault.session('bank', 's').state()).messages).toHaveLength(2);
    } finally {
      await t.close();
    }
  });

  it('a retention run finishes a purge that was interrupted after its commit', async () => {
    const o = vault.operator(op);
    await vault.session('bank', 'p2').appendMany(conversation);
    await o.archive('bank', 'p2');
    now += 366 * DAY;
    await o.purge('bank', 'p2');
    // As if killed between the commit and the deletion: the object back, the tombstone unstamped.
    const file = path.join(home, 'archive', 'bank', 'p2', '4.svarc.gz');
    writeFileSync(file, 'left behind');
    await asOwner(vault, url, [{ text: `UPDATE tombstones SET objects_deleted_at = NULL WHERE tenant_id = 'bank' AND session_id = 'p2'` }]);
    const items = [];
    for await (const i of o.retentionRun({ tenant: 'bank' })) items.push(i);
    expect(items.filter((i) => i.action === 'finish-purge')).toEqual([expect.objectContaining({ session: 'p2', outcome: 'done' })]);
    expect(existsSync(file)).toBe(false);
    const again = [];
    for await (const i of o.retentionRun({ tenant: 'bank' })) again.push(i);
    expect(again.filter((i) => i.action === 'finish-purge')).toEqual([]);
    expect(await vault.verify()).toMatchObject({ ok: true });
  });

  it('a retention run reports a session it cannot archive and goes on with the others', async () => {
    const o = vault.operator(op);
    await vault.createTenant('cb');
    await vault.session('cb', 'broken').appendMany(conversation);
    await vault.session('cb', 'fine').appendMany(conversation);
    await asOwner(vault, url, [{ text: `DELETE FROM events WHERE tenant_id = 'cb' AND session_id = 'broken' AND seq = 2` }]);
    now += 31 * DAY;
    const items = [];
    for await (const i of o.retentionRun({ tenant: 'cb' })) items.push(i);
    expect(items.map((i) => [i.session, i.outcome])).toEqual([
      ['broken', 'failed:CHAIN_BROKEN'],
      ['fine', 'done'],
    ]);
    // The damaged session stays hot, as it was, for verify to name.
    expect((await vault.sessions('cb')).map((s) => [s.session, s.status])).toEqual([
      ['broken', 'active'],
      ['fine', 'archived'],
    ]);
    expect((await vault.verify({ tenant: 'cb' })).problems).toEqual(expect.arrayContaining([expect.objectContaining({ session: 'broken', seq: 2, kind: 'gap' })]));
    const trail = [];
    for await (const a of vault.accessLog({ tenant: 'cb' })) trail.push([a.action, a.session, a.outcome]);
    expect(trail).toEqual(expect.arrayContaining([['retention.archive', 'broken', 'failed:CHAIN_BROKEN']]));
  });
  describe('a retention run over many sessions, archived a group at a time', () => {
    const archiveOf = () => (vault as any).deps.archive as { putIfVersion: (...a: any[]) => Promise<boolean> };
    const trailOf = async (tenant: string) => {
      const out: { seq: number; action: string; session: string | null; outcome: string }[] = [];
      for await (const a of vault.accessLog({ tenant })) out.push({ seq: a.seq, action: a.action, session: a.session, outcome: a.outcome });
      return out.filter((a) => a.action === 'retention.archive');
    };
    const eventsOf = async (tenant: string, session: string) => {
      const out = [];
      for await (const e of vault.session(tenant, session).events()) out.push(e);
      return out;
    };

    it('records each session once before acting on it; one appended to while its group is archived stays hot with its event', async () => {
      await vault.createTenant('many');
      const ids = Array.from({ length: 60 }, (_, i) => `s${String(i).padStart(2, '0')}`);
      for (const id of ids) await vault.session('many', id).appendMany(conversation);
      await vault.session('many', 'long').appendMany(Array.from({ length: 1001 }, (_, i) => ({ type: 'task', task: `t${i}` }))); // archived alone
      const before = new Map(await Promise.all([...ids, 'long'].map(async (id) => [id, await eventsOf('many', id)] as const)));
      now += 31 * DAY;
      // The application appends to s07 while the run is writing its archive object.
      const store = archiveOf();
      const put = store.putIfVersion;
      store.putIfVersion = async (name: string, ...rest: any[]) => {
        if (name.startsWith('many/s07/')) await vault.session('many', 's07').append({ type: 'message', role: 'user', content: 'one more thing' });
        return put.call(store, name, ...rest);
      };
      const items = [];
      try {
        for await (const i of vault.operator(op).retentionRun({ tenant: 'many' })) items.push(i);
      } finally {
        store.putIfVersion = put;
      }
      expect(items.map((i) => [i.session, i.outcome]).sort()).toEqual([...ids, 'long'].map((id) => [id, id === 's07' ? 'skipped' : 'done']).sort());
      const status = new Map((await vault.sessions('many')).map((s) => [s.session, s.status]));
      for (const id of [...ids, 'long']) expect(status.get(id)).toBe(id === 's07' ? 'active' : 'archived');
      // Every archived session reads back from its archive as it was.
      for (const id of [...ids, 'long'].filter((i) => i !== 's07')) expect(await eventsOf('many', id)).toEqual(before.get(id));
      expect((await eventsOf('many', 's07')).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      // One granted record per session, and none failed.
      const trail = await trailOf('many');
      expect(trail.filter((a) => a.outcome === 'granted').map((a) => a.session).sort()).toEqual([...ids, 'long'].sort());
      expect(trail.filter((a) => a.outcome !== 'granted')).toEqual([]);
      expect(await vault.verify({ tenant: 'many' })).toMatchObject({ ok: true });
    });

    it('stops when the store fails mid-group: what did not finish is recorded failed and stays hot, and a rerun archives it', async () => {
      await vault.createTenant('halt');
      const ids = Array.from({ length: 40 }, (_, i) => `h${String(i).padStart(2, '0')}`);
      for (const id of ids) await vault.session('halt', id).appendMany(conversation);
      now += 31 * DAY;
      const store = archiveOf();
      const put = store.putIfVersion;
      store.putIfVersion = async (name: string, ...rest: any[]) => {
        if (name.startsWith('halt/h20/')) throw new StorageError('STORAGE_UNAVAILABLE', 'archive unavailable (test)');
        return put.call(store, name, ...rest);
      };
      const items: { session: string; outcome: string }[] = [];
      try {
        await expect(
          (async () => {
            for await (const i of vault.operator(op).retentionRun({ tenant: 'halt' })) items.push(i);
          })(),
        ).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      } finally {
        store.putIfVersion = put;
      }
      const status = new Map((await vault.sessions('halt')).map((s) => [s.session, s.status]));
      const trail = await trailOf('halt');
      const failed = new Set(trail.filter((a) => a.outcome === 'failed:STORAGE_UNAVAILABLE').map((a) => a.session));
      expect(failed.has('h20')).toBe(true);
      expect(status.get('h20')).toBe('active');
      for (const id of ids) {
        // Each session is archived (and reported done) or hot with a failure recorded; never both, never neither.
        expect([id, status.get(id) === 'archived']).toEqual([id, !failed.has(id)]);
        if (status.get(id) === 'archived') expect(items).toContainEqual(expect.objectContaining({ session: id, outcome: 'done' }));
        expect(await eventsOf('halt', id)).toHaveLength(4);
      }
      const again = [];
      for await (const i of vault.operator(op).retentionRun({ tenant: 'halt' })) again.push(i);
      expect(again.map((i) => i.session).sort()).toEqual([...failed].sort());
      expect((await vault.sessions('halt')).every((s) => s.status === 'archived')).toBe(true);
      expect(await vault.verify({ tenant: 'halt' })).toMatchObject({ ok: true });
    });
  });
});
