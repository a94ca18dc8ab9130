import { randomBytes } from 'node:crypto';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import { storeOf, type Vault } from '../../src/vault/vault';
import { GroupCommit } from '../../src/vault/group-commit';
import { appendEvents, appendGroup, sqlState, type GroupPart, type Statement, type Store } from '../../src/store';
import type { StoredEvent } from '../../src/domain';

afterAll(dropCreatedDatabases);

/**
 * Group commit (src/vault/group-commit.ts, drizzle/0026_append_group.sql): appends of
 * different sessions made while a statement is in flight share the next statement and its
 * commit, and each stays whole and its own. The database-level cases use rows of random
 * bytes: the statement stores what it is given and checks heads, not ciphertexts.
 */
describe.each(backends())('group commit on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  let store: Store;

  beforeAll(async () => {
    const t = await testVault(backend);
    vault = t.vault;
    url = t.url;
    close = t.close;
    store = storeOf(vault);
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  /** Counts the statements the store runs, by name, while `fn` runs. */
  async function counting<T>(fn: () => Promise<T>): Promise<{ result: T; byName: Map<string, number> }> {
    const byName = new Map<string, number>();
    const run = store.run;
    (store as { run: Store['run'] }).run = <R>(st: Statement, values: readonly unknown[]) => {
      byName.set(st.name, (byName.get(st.name) ?? 0) + 1);
      return run<R>(st, values);
    };
    try {
      return { result: await fn(), byName };
    } finally {
      (store as { run: Store['run'] }).run = run;
    }
  }

  it('concurrent appends to many sessions share statements, and each lands whole, in order, and verifies', async () => {
    const sessions = Array.from({ length: 12 }, (_, i) => `g-${i}`);
    for (const id of sessions) await vault.session('bank', id).append({ type: 'task', task: 'open' });
    const rounds = 8;
    const { result: acks, byName } = await counting(() =>
      Promise.all(
        sessions.map(async (id) => {
          const out: { firstSeq: number; contents: string[] }[] = [];
          for (let i = 0; i < rounds; i++) {
            const contents = Array.from({ length: 1 + (i % 3) }, (_, j) => `${id}/${i}/${j}`);
            const r = await vault.session('bank', id).appendMany(contents.map((content) => ({ type: 'message', role: 'user', content })));
            out.push({ firstSeq: r.firstSeq, contents });
          }
          return { id, out };
        }),
      ),
    );
    const grouped = byName.get('session_vault_append_group_v1') ?? 0;
    const alone = byName.get('session_vault_append_v1') ?? 0;
    expect(grouped).toBeGreaterThan(0);
    expect(grouped + alone).toBeLessThan(sessions.length * rounds);
    for (const { id, out } of acks) {
      const stored = new Map<number, string>();
      for await (const e of vault.session('bank', id).events()) if (e.type === 'message') stored.set(e.seq, (e.data as { content: string }).content);
      expect(stored.size).toBe(out.reduce((n, a) => n + a.contents.length, 0));
      for (const a of out) a.contents.forEach((c, j) => expect(stored.get(a.firstSeq + j)).toBe(c));
    }
    const report = await vault.verify({ tenant: 'bank' });
    expect(report.ok).toBe(true);
    // Every batch's head was signed: a checkpoint per acknowledged append (plus each opening one).
    const [[row]] = (await asOwner(vault, url, [{ text: `SELECT count(*)::int AS n FROM checkpoints WHERE tenant_id = 'bank' AND session_id LIKE 'g-%'` }])) as [[{ n: number }]];
    expect(row.n).toBe(sessions.length * (rounds + 1));
  });

  it('eight writers at once: two statements in flight, never more, each carrying half of them, and every append lands', async () => {
    const sessions = Array.from({ length: 8 }, (_, i) => `pair-${i}`);
    for (const id of sessions) await vault.session('bank', id).append({ type: 'task', task: 'open' }); // opened: the next appends come in one tick
    let inFlight = 0;
    let most = 0;
    const sizes: number[] = [];
    const run = store.run;
    (store as { run: Store['run'] }).run = async <R>(st: Statement, values: readonly unknown[]) => {
      // The parts' sessions travel as one array literal (store/array-literal.ts); these ids hold no comma.
      if (st.name === 'session_vault_append_group_v1') sizes.push((values[1] as string).slice(1, -1).split(',').length);
      most = Math.max(most, ++inFlight);
      try {
        return await run<R>(st, values);
      } finally {
        inFlight--;
      }
    };
    try {
      await Promise.all(sessions.map(async (id) => {
        for (let i = 0; i < 5; i++) await vault.session('bank', id).append({ type: 'message', role: 'user', content: `${id}/${i}` });
      }));
    } finally {
      (store as { run: Store['run'] }).run = run;
    }
    expect(most).toBe(2);
    expect(sizes.slice(0, 2)).toEqual([4, 4]); // the first eight, split between the two
    expect(await heads(sessions)).toEqual(Object.fromEntries(sessions.map((id) => [id, { head: 6, events: 6, checkpoints: 6 }])));
    for (const id of sessions) {
      const contents: string[] = [];
      for await (const e of vault.session('bank', id).events()) if (e.type === 'message') contents.push((e.data as { content: string }).content);
      expect(contents).toEqual([0, 1, 2, 3, 4].map((i) => `${id}/${i}`));
    }
    expect((await vault.verify({ tenant: 'bank' })).ok).toBe(true);
  });

  /** Rows of random bytes for `session` from seq `from`, as the statement takes them. */
  function junkRows(session: string, from: number, count: number, idempotencyKey: string | null = null): StoredEvent[] {
    return Array.from({ length: count }, (_, i) => ({
      tenant: 'bank', session, seq: from + i, type: 'message', at: new Date(), correlationId: 'c-1', idempotencyKey: i === 0 ? idempotencyKey : null,
      tool: null, promptTokens: null, completionTokens: null, costUsd: null, durationMs: null, keyVersion: 2,
      nonce: randomBytes(24), ciphertext: randomBytes(50 + i), hash: randomBytes(32),
    }));
  }

  async function heads(ids: string[]): Promise<Record<string, { head: number; events: number; checkpoints: number }>> {
    const [rows] = (await asOwner(vault, url, [{
      text: `SELECT s.session_id AS id, s.head_seq::int AS head,
                    (SELECT count(*)::int FROM events e WHERE e.tenant_id = s.tenant_id AND e.session_id = s.session_id) AS events,
                    (SELECT count(*)::int FROM checkpoints c WHERE c.tenant_id = s.tenant_id AND c.session_id = s.session_id) AS checkpoints
               FROM sessions s WHERE s.tenant_id = 'bank' AND s.session_id = ANY($1)`,
      values: [ids],
    }])) as [{ id: string; head: number; events: number; checkpoints: number }[]];
    return Object.fromEntries(rows.map((r) => [r.id, { head: r.head, events: r.events, checkpoints: r.checkpoints }]));
  }

  it('a part whose head moved is answered false with nothing of it written, while the rest of its group commits', async () => {
    const ids = ['moved-a', 'moved-b', 'moved-c'];
    for (const id of ids) await vault.session('bank', id).append({ type: 'task', task: 'open' }); // each at head 1, 1 checkpoint
    const parts: GroupPart[] = [
      { session: 'moved-a', expectedSeq: 1, rows: junkRows('moved-a', 2, 2), checkpoint: { keyId: 'k', note: 'note-a' } },
      { session: 'moved-b', expectedSeq: 0, rows: junkRows('moved-b', 1, 1), checkpoint: { keyId: 'k', note: 'note-b' } }, // stale head
      { session: 'moved-c', expectedSeq: 1, rows: junkRows('moved-c', 2, 3), checkpoint: null },
    ];
    expect(await appendGroup(store, 'bank', parts)).toEqual([true, false, true]);
    expect(await heads(ids)).toEqual({
      'moved-a': { head: 3, events: 3, checkpoints: 2 },
      'moved-b': { head: 1, events: 1, checkpoints: 1 },
      'moved-c': { head: 4, events: 4, checkpoints: 1 },
    });
  });

  it('a group that fails as a whole writes nothing, and each part is then written on its own for its own answer', async () => {
    const ids = ['fail-a', 'fail-b', 'fail-c'];
    for (const id of ids) await vault.session('bank', id).append({ type: 'task', task: 'open', idempotencyKey: `${id}-used` });
    const group = new GroupCommit(store);
    // The first write goes alone at once; the two behind it wait for it and go together.
    const first = group.write('bank', { session: 'fail-a', expectedSeq: 1, rows: junkRows('fail-a', 2, 1), checkpoint: null });
    const reused = group.write('bank', { session: 'fail-b', expectedSeq: 1, rows: junkRows('fail-b', 2, 1, 'fail-b-used'), checkpoint: null });
    const fine = group.write('bank', { session: 'fail-c', expectedSeq: 1, rows: junkRows('fail-c', 2, 2), checkpoint: null });
    const { result, byName } = await counting(() => Promise.allSettled([first, reused, fine]));
    expect(result[0]).toEqual({ status: 'fulfilled', value: true });
    expect(result[1]!.status).toBe('rejected');
    expect(sqlState((result[1] as PromiseRejectedResult).reason)).toBe('23505');
    expect(result[2]).toEqual({ status: 'fulfilled', value: true });
    expect(byName.get('session_vault_append_group_v1')).toBe(1);
    expect(await heads(ids)).toEqual({
      'fail-a': { head: 2, events: 2, checkpoints: 1 },
      'fail-b': { head: 1, events: 1, checkpoints: 1 },
      'fail-c': { head: 3, events: 3, checkpoints: 1 },
    });
  });

  it('the statement refuses parts that are not contiguous or columns that do not match, writing nothing', async () => {
    await vault.session('bank', 'shape').append({ type: 'task', task: 'open' });
    const rows = junkRows('shape', 2, 2);
    const bad = [
      () => store.run({ name: 'sv_test_group_gap', text: 'SELECT session_vault_append_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)' }, groupValues(['shape'], [2, 1], rows)),
      () => store.run({ name: 'sv_test_group_short', text: 'SELECT session_vault_append_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)' }, groupValues(['shape'], [1, 1], rows, 23)),
      // One session named twice: each part at the session's head, so one UPDATE could move it only once.
      () => store.run({ name: 'sv_test_group_twice', text: 'SELECT session_vault_append_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)' }, groupValues(['shape', 'shape'], [1, 2], rows)),
      () => store.run({ name: 'sv_test_group_null_part', text: 'SELECT session_vault_append_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)' }, groupValues(['shape'], [1, null], rows)),
      () => store.run({ name: 'sv_test_group_null_session', text: 'SELECT session_vault_append_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)' }, groupValues(['shape', null], [1, 2], rows)),
    ];
    for (const call of bad) {
      let code: string | undefined;
      await call().catch((e: unknown) => (code = sqlState(e)));
      expect(code).toBe('SV002');
    }
    expect(await heads(['shape'])).toEqual({ shape: { head: 1, events: 1, checkpoints: 1 } });
  });

  it('the one-event path of session_vault_append refuses byte columns that do not match its lengths, writing nothing', async () => {
    await vault.session('bank', 'single-shape').append({ type: 'task', task: 'open' });
    const [row] = junkRows('single-shape', 2, 1);
    const text = 'SELECT session_vault_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)';
    const values = (nonce: Buffer, ciphertext: Buffer, hash: Buffer, length: number) => [
      'bank', 'single-shape', 1, [2], ['message'], [row!.at.toISOString()], ['c-1'], [null], [null], [null], [null], [null], [null], [2], [length],
      nonce, ciphertext, hash, null, null,
    ];
    const nonce = Buffer.from(row!.nonce);
    const ciphertext = Buffer.from(row!.ciphertext);
    const hash = Buffer.from(row!.hash);
    for (const [i, bad] of [
      values(nonce.subarray(0, 23), ciphertext, hash, ciphertext.length),
      values(nonce, ciphertext, hash.subarray(0, 31), ciphertext.length),
      values(nonce, ciphertext, hash, ciphertext.length + 1),
    ].entries()) {
      let code: string | undefined;
      await store.run({ name: `sv_test_single_shape_${i}`, text }, bad).catch((e: unknown) => (code = sqlState(e)));
      expect(code).toBe('SV002');
    }
    expect(await heads(['single-shape'])).toEqual({ 'single-shape': { head: 1, events: 1, checkpoints: 1 } });
  });

  it('session_vault_append_one stores its row at the head after the expected seq; a row sealed at another seq is never sent', async () => {
    await vault.session('bank', 'one-seq').append({ type: 'task', task: 'open' });
    // The function takes no seq: the row's associated data names the seq it was sealed at, so the client refuses a mismatch before any I/O.
    await expect(appendEvents(store, 'bank', 'one-seq', 1, junkRows('one-seq', 3, 1), null)).rejects.toThrow(/sealed at seq 3/);
    expect(await heads(['one-seq'])).toEqual({ 'one-seq': { head: 1, events: 1, checkpoints: 1 } });
    expect(await appendEvents(store, 'bank', 'one-seq', 1, junkRows('one-seq', 2, 1), null)).toBe(true);
    expect(await appendEvents(store, 'bank', 'one-seq', 1, junkRows('one-seq', 2, 1), null)).toBe(false); // the head moved on: nothing written
    expect(await heads(['one-seq'])).toEqual({ 'one-seq': { head: 2, events: 2, checkpoints: 1 } });
  });

  it('a loop of appends lets the event loop turn: a timer set before it fires while it runs', async () => {
    let fired = false;
    setTimeout(() => (fired = true), 10);
    let n = 0;
    while (!fired && n < 3000) {
      await vault.session('bank', 'loop').append({ type: 'message', role: 'user', content: `turn ${n}` });
      n++;
    }
    expect(fired).toBe(true);
    expect(n).toBeLessThan(3000);
  });

  it('the application role cannot use a group to write into another tenant', async () => {
    await vault.createTenant('other');
    await vault.session('other', 'theirs').append({ type: 'task', task: 'open' });
    await vault.session('bank', 'mine').append({ type: 'task', task: 'open' });
    // A group is one tenant's: naming the other tenant's session under this tenant finds no such session.
    expect(await appendGroup(store, 'bank', [
      { session: 'mine', expectedSeq: 1, rows: junkRows('mine', 2, 1), checkpoint: null },
      { session: 'theirs', expectedSeq: 1, rows: junkRows('theirs', 2, 1), checkpoint: null },
    ])).toEqual([true, false]);
    const [[row]] = (await asOwner(vault, url, [{ text: `SELECT head_seq::int AS head, (SELECT count(*)::int FROM events WHERE tenant_id = 'other') AS events FROM sessions WHERE tenant_id = 'other' AND session_id = 'theirs'` }])) as [[{ head: number; events: number }]];
    expect(row).toEqual({ head: 1, events: 1 });
  });
});

/** The statement's 21 values with the given parts and row-part indexes; `nonceBytes` shortens the nonces. */
function groupValues(sessions: (string | null)[], rowPart: (number | null)[], rows: StoredEvent[], nonceBytes = 24): unknown[] {
  return [
    'bank', sessions, sessions.map(() => 1), sessions.map(() => null), sessions.map(() => null), rowPart,
    rows.map((r) => r.seq), rows.map((r) => r.type), rows.map((r) => r.at.toISOString()), rows.map((r) => r.correlationId),
    rows.map(() => null), rows.map(() => null), rows.map(() => null), rows.map(() => null), rows.map(() => null), rows.map(() => null),
    rows.map((r) => r.keyVersion), rows.map((r) => r.ciphertext.length),
    Buffer.concat(rows.map((r) => Buffer.from(r.nonce).subarray(0, nonceBytes))), Buffer.concat(rows.map((r) => Buffer.from(r.ciphertext))), Buffer.concat(rows.map((r) => Buffer.from(r.hash))),
  ];
}
