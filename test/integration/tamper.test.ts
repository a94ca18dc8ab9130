import fc from 'fast-check';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { asOwner } from '../support/owner';
import type { Vault } from '../../src/vault';

afterAll(dropCreatedDatabases);

/** Each stored column of events, and a SQL expression that changes it. */
const COLUMN_CHANGES: Record<string, string> = {
  type: `CASE WHEN type = 'message' THEN 'summary' ELSE 'message' END`,
  at: `at + interval '1 millisecond'`,
  correlation_id: `correlation_id || 'x'`,
  idempotency_key: `CASE WHEN idempotency_key IS NULL THEN 'k' ELSE NULL END`,
  tool: `CASE WHEN tool IS NULL THEN 'x' ELSE NULL END`,
  prompt_tokens: `coalesce(prompt_tokens, 0) + 1`,
  completion_tokens: `coalesce(completion_tokens, 0) + 1`,
  cost_usd: `coalesce(cost_usd, 0) + 0.5`,
  duration_ms: `coalesce(duration_ms, 0) + 1`,
  key_version: `key_version + 1`,
  nonce: `set_byte(nonce, $4::int % length(nonce), get_byte(nonce, $4::int % length(nonce)) # (1 << ($4::int % 8)))`,
  ciphertext: `set_byte(ciphertext, $4::int % length(ciphertext), get_byte(ciphertext, $4::int % length(ciphertext)) # (1 << ($4::int % 8)))`,
  hash: `set_byte(hash, $4::int % 32, get_byte(hash, $4::int % 32) # (1 << ($4::int % 8)))`,
};

describe.each(backends())('tamper evidence on $name', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const t = await testVault(backend);
    ({ vault, url, close } = t);
    await vault.createTenant('bank');
    await vault.createTenant('other');
    const s = vault.session('bank', 'chain');
    await s.appendMany([
      { type: 'message', role: 'user', content: 'hello', usage: { promptTokens: 1, completionTokens: 0 }, costUsd: 0.1 },
      { type: 'tool_call', callId: 'c', tool: 'lookup', input: { a: 1 } },
      { type: 'tool_result', callId: 'c', output: 'r', durationMs: 3 },
      { type: 'task', task: 'x', idempotencyKey: 'k4' },
      { type: 'message', role: 'assistant', content: 'bye' },
    ]);
  });
  afterAll(() => close());

  it('names the event when any byte of any stored column is changed (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.constantFrom(...Object.keys(COLUMN_CHANGES)), fc.nat(10_000), async (seq, column, byte) => {
        const where = `tenant_id = $1 AND session_id = $2 AND seq = $3`;
        const [original] = await asOwner(vault, url, [{ text: `SELECT ${column} AS v FROM events WHERE ${where}`, values: ['bank', 'chain', seq] }]);
        await asOwner(vault, url, [{ text: `UPDATE events SET ${column} = ${COLUMN_CHANGES[column]} WHERE ${where} AND $4::int >= 0`, values: ['bank', 'chain', seq, byte] }]);
        try {
          const report = await vault.verify({ tenant: 'bank', session: 'chain' });
          expect(report.ok).toBe(false);
          expect(report.problems).toContainEqual({ tenant: 'bank', session: 'chain', seq, kind: 'hash_mismatch' });
        } finally {
          await asOwner(vault, url, [{ text: `UPDATE events SET ${column} = $4 WHERE ${where}`, values: ['bank', 'chain', seq, (original![0] as { v: unknown }).v] }]);
        }
        expect((await vault.verify({ tenant: 'bank', session: 'chain' })).ok).toBe(true);
      }),
      { numRuns: 30 },
    );
  });

  it('refuses, and verify reports, values the vault never writes: a time before 1970 or infinite, a negative count or duration', async () => {
    const s = vault.session('bank', 'unencodable');
    await s.appendMany([
      { type: 'task', task: 't1' },
      { type: 'task', task: 't2' },
      { type: 'message', role: 'user', content: 'm', usage: { promptTokens: 1, completionTokens: 1 } },
      { type: 'tool_result', callId: 'c', output: 'r', durationMs: 3 },
      { type: 'task', task: 't5' },
    ]);
    const where = (seq: number) => `tenant_id = 'bank' AND session_id = 'unencodable' AND seq = ${seq}`;
    await asOwner(vault, url, [
      { text: 'ALTER TABLE events DROP CONSTRAINT events_at_range' }, // the owner drops 0066's check, as it may
      { text: `UPDATE events SET at = '1969-12-31 23:59:59.999+00' WHERE ${where(1)}` },
      { text: `UPDATE events SET at = 'infinity' WHERE ${where(2)}` },
      { text: `UPDATE events SET prompt_tokens = -1 WHERE ${where(3)}` },
      { text: `UPDATE events SET duration_ms = -5 WHERE ${where(4)}` },
    ]);
    const report = await vault.verify({ tenant: 'bank', session: 'unencodable' });
    expect(report.problems.filter((p) => p.kind === 'hash_mismatch').map((p) => p.seq)).toEqual([1, 2, 3, 4]);
    for (const seq of [1, 2, 3, 4]) {
      const read = (async () => {
        for await (const _ of s.events({ fromSeq: seq, toSeq: seq })) void _;
      })();
      await expect(read).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
      await expect(s.eventsAt([seq])).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    }
  });

  it('detects a deleted middle event', async () => {
    const s = vault.session('bank', 'deleted');
    await s.appendMany([1, 2, 3, 4].map((i) => ({ type: 'task', task: `t${i}` })));
    await asOwner(vault, url, [{ text: `DELETE FROM events WHERE tenant_id = 'bank' AND session_id = 'deleted' AND seq = 2` }]);
    const report = await vault.verify({ tenant: 'bank', session: 'deleted' });
    expect(report.problems).toContainEqual({ tenant: 'bank', session: 'deleted', seq: 2, kind: 'gap' });
  });

  it('detects two reordered events', async () => {
    const s = vault.session('bank', 'reordered');
    await s.appendMany([1, 2, 3, 4].map((i) => ({ type: 'task', task: `t${i}` })));
    const w = `tenant_id = 'bank' AND session_id = 'reordered'`;
    await asOwner(vault, url, [
      { text: `UPDATE events SET seq = 100 WHERE ${w} AND seq = 2` },
      { text: `UPDATE events SET seq = 2 WHERE ${w} AND seq = 3` },
      { text: `UPDATE events SET seq = 3 WHERE ${w} AND seq = 100` },
    ]);
    const report = await vault.verify({ tenant: 'bank', session: 'reordered' });
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.seq)).toEqual(expect.arrayContaining([2, 3]));
  });

  it('detects a truncated tail against the session head', async () => {
    const s = vault.session('bank', 'truncated');
    await s.appendMany([1, 2, 3].map((i) => ({ type: 'task', task: `t${i}` })));
    await asOwner(vault, url, [{ text: `DELETE FROM events WHERE tenant_id = 'bank' AND session_id = 'truncated' AND seq = 3` }]);
    expect((await vault.verify({ tenant: 'bank', session: 'truncated' })).problems).toEqual([
      { tenant: 'bank', session: 'truncated', seq: 3, kind: 'missing_tail' },
      { tenant: 'bank', session: 'truncated', seq: 3, kind: 'checkpoint_beyond_head' },
    ]);
  });

  it.each([
    ['another session of the tenant', 'bank', 'victim-b'],
    ['another tenant', 'other', 'victim-c'],
  ])('refuses to open a ciphertext copied into %s', async (_label, tenant, session) => {
    await vault.session('bank', 'source').append({ type: 'message', role: 'user', content: 'secret transfer details' });
    await vault.session(tenant, session).append({ type: 'message', role: 'user', content: 'innocent' });
    await asOwner(vault, url, [
      {
        text: `UPDATE events AS dst SET nonce = src.nonce, ciphertext = src.ciphertext
                 FROM events AS src
                WHERE src.tenant_id = 'bank' AND src.session_id = 'source' AND src.seq = 1
                  AND dst.tenant_id = $1 AND dst.session_id = $2 AND dst.seq = 1`,
        values: [tenant, session],
      },
    ]);
    const read = async () => {
      for await (const _ of vault.session(tenant, session).events());
    };
    await expect(read()).rejects.toMatchObject({ code: 'DECRYPTION_FAILED', message: 'decryption failed' });
  });
});
