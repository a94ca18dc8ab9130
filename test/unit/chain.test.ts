import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { ensureSodium, generateKey } from '../../src/crypto';
import { ChainVerifier, GENESIS_HASH, eventKey, sealEvent, openAlong, openEvent, sealSnapshot, openSnapshot, type ChainCursor } from '../../src/events';
import { VaultError } from '../../src/errors';
import type { EventInput, StoredEvent } from '../../src/domain';

beforeAll(ensureSodium);

function chain(n: number, dataKey = generateKey()): StoredEvent[] {
  const out: StoredEvent[] = [];
  let prev = GENESIS_HASH;
  for (let i = 1; i <= n; i++) {
    const input: EventInput =
      i % 2 === 0
        ? { type: 'tool_call', callId: `c${i}`, tool: 'lookup', input: { i } }
        : { type: 'message', role: 'user', content: `hello ${i}`, usage: { promptTokens: i, completionTokens: 1 }, costUsd: 0.5 };
    const row = sealEvent(input, { tenant: 't', session: 's', seq: i, at: new Date(1_700_000_000_000 + i), correlationId: 'c', prevHash: prev, dataKey });
    out.push(row);
    prev = row.hash;
  }
  return out;
}

function verify(rows: StoredEvent[], head = { seq: rows.length, hash: rows[rows.length - 1]?.hash ?? null }) {
  const v = new ChainVerifier('t', 's');
  for (const r of rows) v.push(r);
  return v.finish(head);
}

type Column = keyof StoredEvent;
const TAMPERABLE: Column[] = ['type', 'at', 'correlationId', 'idempotencyKey', 'tool', 'promptTokens', 'completionTokens', 'costUsd', 'durationMs', 'keyVersion', 'nonce', 'ciphertext', 'hash'];

/** A different value for a column, as an attacker with write access might store. */
function tamper(row: StoredEvent, column: Column, byte: number): StoredEvent {
  const r = { ...row };
  switch (column) {
    case 'nonce':
    case 'ciphertext':
    case 'hash': {
      const b = new Uint8Array(r[column]);
      b[byte % b.length]! ^= 1 << byte % 8;
      (r as Record<string, unknown>)[column] = b;
      return r;
    }
    case 'type':
      r.type = r.type === 'message' ? 'summary' : 'message';
      return r;
    case 'at':
      r.at = new Date(r.at.getTime() + 1 + byte);
      return r;
    case 'correlationId':
      r.correlationId = r.correlationId + 'x';
      return r;
    case 'idempotencyKey':
    case 'tool':
      (r as Record<string, unknown>)[column] = r[column] === null ? 'x' : null;
      return r;
    default:
      (r as Record<string, unknown>)[column] = ((r[column] as number | null) ?? 0) + 1;
      return r;
  }
}

describe('ChainVerifier', () => {
  it('accepts an untouched chain', () => {
    expect(verify(chain(5))).toEqual([]);
  });

  it('names the event whose stored column was changed, whatever the column (property)', () => {
    const rows = chain(6);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.constantFrom(...TAMPERABLE), fc.nat(1000), (i, column, byte) => {
        const copy = rows.slice();
        copy[i] = tamper(rows[i]!, column, byte);
        const problems = verify(copy, { seq: 6, hash: rows[5]!.hash });
        expect(problems).toContainEqual({ seq: i + 1, kind: 'hash_mismatch' });
      }),
      { numRuns: 200 },
    );
  });

  it('reports a deleted middle event as a gap', () => {
    const rows = chain(5);
    expect(verify([rows[0]!, rows[1]!, rows[3]!, rows[4]!])).toContainEqual({ seq: 3, kind: 'gap' });
  });

  it('reports two reordered events', () => {
    const rows = chain(5);
    const problems = verify([rows[0]!, rows[2]!, rows[1]!, rows[3]!, rows[4]!]);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.map((p) => p.kind)).toEqual(expect.arrayContaining(['hash_mismatch']));
  });

  it('reports a truncated tail against the recorded head', () => {
    const rows = chain(5);
    expect(verify(rows.slice(0, 3), { seq: 5, hash: rows[4]!.hash })).toEqual([{ seq: 4, kind: 'missing_tail' }]);
  });

  it('reports a head that does not match the last event', () => {
    const rows = chain(3);
    expect(verify(rows, { seq: 3, hash: new Uint8Array(randomBytes(32)) })).toEqual([{ seq: 3, kind: 'head_mismatch' }]);
  });

  it('reports a row that belongs to another session', () => {
    const rows = chain(2);
    expect(verify([rows[0]!, { ...rows[1]!, session: 'other' }])).toContainEqual({ seq: 2, kind: 'foreign_row' });
  });
});

describe('openAlong (how every read path opens rows)', () => {
  let key: ReturnType<typeof generateKey>;
  let rows: StoredEvent[];
  beforeAll(() => {
    key = generateKey();
    rows = chain(12, key);
  });
  const codeOf = (failure: { error: unknown } | null) => (failure?.error instanceof VaultError ? failure.error.code : failure);

  /** Rows cut into arrays at `cuts`, opened in turn as a reader does; stops at the first failure. */
  function read(arrays: StoredEvent[][], at: ChainCursor, head: { seq: number; hash: Uint8Array } | null = null) {
    const seqs: number[] = [];
    for (const a of arrays) {
      const run = openAlong(a, at, key, head);
      seqs.push(...run.events.map((e) => e.seq));
      if (run.failure) return { seqs, code: codeOf(run.failure) };
    }
    return { seqs, code: null };
  }
  const cut = (list: StoredEvent[], cuts: number[]) => {
    const at = [...new Set(cuts.map((c) => c % (list.length + 1)))].sort((a, b) => a - b);
    return [0, ...at].map((from, k) => list.slice(from, [...at, list.length][k])).filter((a) => a.length > 0);
  };

  it('hands out exactly the events before a row that fails, however the rows are cut into arrays (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 11 }), fc.constantFrom(...TAMPERABLE), fc.nat(1000), fc.array(fc.nat(20), { maxLength: 4 }), (i, column, byte, cuts) => {
        const copy = rows.slice();
        copy[i] = tamper(rows[i]!, column, byte);
        const got = read(cut(copy, cuts), { prev: GENESIS_HASH, expected: 1 });
        expect(got.seqs).toEqual(rows.slice(0, i).map((r) => r.seq));
        expect(['CHAIN_BROKEN', 'DECRYPTION_FAILED']).toContain(got.code);
        expect(read(cut(rows, cuts), { prev: GENESIS_HASH, expected: 1 })).toEqual({ seqs: rows.map((r) => r.seq), code: null });
      }),
      { numRuns: 200 },
    );
  });

  it('checks a read from seq k against the row before it, and fails when that row is gone', () => {
    expect(read([rows.slice(4)], { prev: null, expected: 6 })).toEqual({ seqs: [6, 7, 8, 9, 10, 11, 12], code: null });
    expect(read([rows.slice(5)], { prev: null, expected: 6 })).toEqual({ seqs: [], code: 'CHAIN_BROKEN' });
  });

  it('passes over no row once the chain is under way: a row repeated after it opened fails', () => {
    const repeated = [rows[0]!, rows[1]!, rows[2]!, rows[2]!, rows[3]!];
    expect(read([repeated], { prev: GENESIS_HASH, expected: 1 })).toEqual({ seqs: [1, 2, 3], code: 'CHAIN_BROKEN' });
    expect(read([repeated.slice(0, 3), repeated.slice(3)], { prev: GENESIS_HASH, expected: 1 })).toEqual({ seqs: [1, 2, 3], code: 'CHAIN_BROKEN' });
  });

  it('fails at the recorded head when the row there has another hash (a rewound head), after the events before it', () => {
    const head = { seq: 8, hash: rows[6]!.hash };
    expect(read([rows.slice(0, 5), rows.slice(5)], { prev: GENESIS_HASH, expected: 1 }, head)).toEqual({ seqs: [1, 2, 3, 4, 5, 6, 7], code: 'CHAIN_BROKEN' });
    expect(read([rows], { prev: GENESIS_HASH, expected: 1 }, { seq: 12, hash: rows[11]!.hash })).toEqual({ seqs: rows.map((r) => r.seq), code: null });
  });
});

describe('sealed events', () => {
  it('open to the same data with the same key', () => {
    const key = generateKey();
    const input: EventInput = { type: 'tool_result', callId: 'c', output: { a: [1, 'two', null] }, summary: 's', durationMs: 5, isError: false };
    const row = sealEvent(input, { tenant: 't', session: 's', seq: 1, at: new Date(0), correlationId: 'c', prevHash: GENESIS_HASH, dataKey: key });
    expect(row.durationMs).toBe(5);
    expect(Buffer.from(row.ciphertext).toString('utf8')).not.toContain('two');
    expect(openEvent(row, key).data).toEqual({ callId: 'c', output: { a: [1, 'two', null] }, summary: 's', durationMs: 5, isError: false });
  });

  it("leave no copy of their plaintext in Node's shared pool of small buffers, which later allocations hand out unwritten", () => {
    const key = generateKey();
    const marker = `account-${randomBytes(12).toString('hex')}`;
    // Each size lands in the pool as Buffer.from would put it (under 4 KiB), in a fresh pool and in one half used.
    for (const pad of [0, 100, 3000]) {
      const row = sealEvent({ type: 'message', role: 'user', content: `${'x'.repeat(pad)} ${marker}` }, { tenant: 't', session: 's', seq: 1, at: new Date(0), correlationId: 'c', prevHash: GENESIS_HASH, dataKey: key });
      const pool = Buffer.from(Buffer.allocUnsafe(1).buffer); // the pool the next small Buffer comes from, whole
      expect(pool.includes(marker)).toBe(false);
      expect((openEvent(row, key).data as { content: string }).content).toContain(marker);
    }
  });

  it("seal a snapshot's state as they do: no copy of it left in the shared pool", () => {
    const key = generateKey();
    const marker = `balance-${randomBytes(12).toString('hex')}`;
    const place = { tenant: 't', session: 's', seq: 3, at: new Date(0), headHash: new Uint8Array(32) };
    const sealed = sealSnapshot(JSON.stringify({ note: marker }), place, key);
    expect(Buffer.from(Buffer.allocUnsafe(1).buffer).includes(marker)).toBe(false);
    expect(openSnapshot(sealed, key)).toEqual({ note: marker });
  });

  it.each([
    ['another seq', { seq: 2 }],
    ['another session', { session: 'x' }],
    ['another tenant', { tenant: 'x' }],
    ['another type', { type: 'summary' }],
    ['another key version (a downgrade to the legacy seal)', { keyVersion: 1 }],
    ['a rewritten time', { at: new Date(1) }],
    ['a rewritten correlation id', { correlationId: 'forged' }],
    ['an added idempotency key', { idempotencyKey: 'k' }],
    ['a rewritten tool name', { tool: 'transfer' }],
    ['rewritten token counts', { promptTokens: 1 }],
    ['a rewritten cost', { costUsd: 0.5 }],
    ['a rewritten duration', { durationMs: 9 }],
  ])('fail to open under %s', (_label, change) => {
    const key = generateKey();
    const row = sealEvent({ type: 'message', role: 'user', content: 'secret' }, { tenant: 't', session: 's', seq: 1, at: new Date(0), correlationId: 'c', prevHash: GENESIS_HASH, dataKey: key });
    expect(() => openEvent({ ...row, ...change } as StoredEvent, key)).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED', message: 'decryption failed' }));
  });

  it("open with their own event key, which opens no other event (what a decrypting export discloses)", () => {
    const key = generateKey();
    const ctx = { tenant: 't', session: 's', at: new Date(0), correlationId: 'c', prevHash: GENESIS_HASH, dataKey: key };
    const first = sealEvent({ type: 'task', task: 'exported' }, { ...ctx, seq: 1 });
    const later = sealEvent({ type: 'task', task: 'after the export' }, { ...ctx, seq: 2 });
    const disclosed = eventKey(key, 't', 's', 1);
    expect(openEvent(first, { eventKey: disclosed }).data).toEqual({ task: 'exported' });
    expect(() => openEvent(later, { eventKey: disclosed })).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
    // Nor can it stand in for the data key.
    expect(() => openEvent(later, disclosed)).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
  });

  it('fail to open with another key', () => {
    const row = sealEvent({ type: 'task', task: 'x' }, { tenant: 't', session: 's', seq: 1, at: new Date(0), correlationId: 'c', prevHash: GENESIS_HASH, dataKey: generateKey() });
    expect(() => openEvent(row, generateKey())).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
  });
});
