import fc from 'fast-check';
import { InputError, KeyError, StorageError } from '../../src/errors';
import { callKeys, recordKeyed } from '../../src/integrations/record';
import type { AppendResult, VaultSession } from '../../src/vault';

/**
 * What the integrations' recording does with each outcome of an append: only a database
 * that may not have answered (STORAGE_UNAVAILABLE) is asked again, under the same events
 * and keys, three times at most; every other error reaches the caller at once, without
 * sending the events again. The end-to-end attacks (a failover cutting an answer after
 * commit) are in test/integration/connection-loss.test.ts.
 */
const stored: AppendResult = { tenant: 't', session: 's', appended: 1, firstSeq: 1, lastSeq: 1, head: '00', correlationId: 'c', deduplicated: true };

function session(outcomes: (Error | 'ok')[]): { session: VaultSession; sent: unknown[][] } {
  const sent: unknown[][] = [];
  const fake = {
    appendMany: async (events: readonly unknown[]) => {
      sent.push([...events]);
      const next = outcomes.shift() ?? 'ok';
      if (next === 'ok') return stored;
      throw next;
    },
  };
  return { session: fake as unknown as VaultSession, sent };
}

const unavailable = () => new StorageError('STORAGE_UNAVAILABLE', 'database unreachable while appending events (connection lost)');

describe('recordKeyed', () => {
  it('never sends again an append that failed for any reason but an unreachable database', async () => {
    const refusals = [
      () => new InputError('INVALID_EVENT', 'event 1: bad'),
      () => new InputError('IDEMPOTENCY_CONFLICT', 'keys used by another append'),
      () => new StorageError('STORAGE_REFUSED', 'session t/s is shredded; it cannot be appended to'),
      () => new StorageError('APPEND_CONTENDED', 'gave up'),
      () => new KeyError('KEY_DESTROYED', 'destroyed'),
      () => new Error('a programming error'),
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...refusals), async (refusal) => {
        const e = refusal();
        const { session: s, sent } = session([e]);
        await expect(recordKeyed(s, [{ type: 'task', task: 'x', idempotencyKey: 'k' }])).rejects.toBe(e);
        expect(sent).toHaveLength(1);
      }),
    );
  });

  it('sends the same events again while the database is unreachable, and returns what the retry was answered', async () => {
    const events = [{ type: 'task', task: 'x', idempotencyKey: 'call/1' }];
    const { session: s, sent } = session([unavailable(), unavailable(), 'ok']);
    await expect(recordKeyed(s, events)).resolves.toBe(stored);
    expect(sent).toEqual([events, events, events]);
  });

  it('logs each sending again with its attempt and the code, never the events', async () => {
    const warned: unknown[][] = [];
    const logger = { warn: (...args: unknown[]) => warned.push(args) } as never;
    const { session: s } = session([unavailable(), 'ok']);
    await recordKeyed(s, [{ type: 'message', role: 'user', content: 'IBAN DE02 secret', idempotencyKey: 'k' }], { logger, op: 'agents.record' });
    expect(warned).toEqual([[{ op: 'agents.record', attempt: 1, code: 'STORAGE_UNAVAILABLE' }, 'database unreachable; recording again']]);
    expect(JSON.stringify(warned)).not.toContain('IBAN');
  });

  it('gives up after three retries with the last error', async () => {
    const last = unavailable();
    const { session: s, sent } = session([unavailable(), unavailable(), unavailable(), last, 'ok']);
    await expect(recordKeyed(s, [{ type: 'task', task: 'x', idempotencyKey: 'k' }])).rejects.toBe(last);
    expect(sent).toHaveLength(4);
  });
});

describe('callKeys', () => {
  it('makes keys of one call that share its prefix, differ from every other call, and fit the key format', () => {
    fc.assert(
      fc.property(fc.constantFrom('agents', 'langgraph', 'memory'), fc.array(fc.oneof(fc.constantFrom('item', 'pop', 'writes'), fc.nat(10_000)), { minLength: 1, maxLength: 3 }), (prefix, part) => {
        const a = callKeys(prefix);
        const b = callKeys(prefix);
        expect(a(...part)).toBe(a(...part));
        expect(a(...part)).not.toBe(b(...part));
        expect(a(...part)).toMatch(new RegExp(`^${prefix}/[0-9a-f-]{36}/`));
        expect(a(...part)).toMatch(/^[\x20-\x7e]{1,128}$/);
      }),
    );
  });
});
