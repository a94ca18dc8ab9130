import fc from 'fast-check';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { verifyBundle } from '../../src/audit';
import type { Vault } from '../../src/vault';

/**
 * Whatever an append accepts, verify, export (and its offline check) and archive accept:
 * no input may make the vault raise a false tamper alarm on its own data. A property over
 * events whose clear columns (tokens, cost, duration, tool names) take awkward values:
 * -0, denormals, the largest doubles and integers, odd but printable names.
 */
afterAll(dropCreatedDatabases);

const awkwardNumber = fc.oneof(fc.constantFrom(-0, 0, 5e-324, 2.2250738585072014e-308, 0.1 + 0.2, 1e21, Number.MAX_VALUE), fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }));
const awkwardInt = fc.oneof(fc.constantFrom(-0, 0, 1, 2 ** 31 - 1), fc.nat({ max: 2 ** 31 - 1 }));
const name = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/[\u0000-\u001f\u007f]/.test(s));
const event = fc.oneof(
  fc.record({ type: fc.constant('message'), role: fc.constant('assistant'), content: fc.string(), costUsd: awkwardNumber, usage: fc.record({ promptTokens: awkwardInt, completionTokens: awkwardInt }), latencyMs: awkwardInt }),
  fc.record({ type: fc.constant('tool_call'), callId: name, tool: name, input: fc.jsonValue({ maxDepth: 4 }) }),
  fc.record({ type: fc.constant('tool_result'), callId: name, output: fc.jsonValue({ maxDepth: 4 }), durationMs: awkwardInt }),
  fc.record({ type: fc.constant('model_error'), model: name, message: fc.string({ maxLength: 100 }), latencyMs: awkwardInt }),
);

describe.each(backends())('accepted input stays verifiable on $name', (backend) => {
  let vault: Vault;
  let close: () => Promise<void>;
  let n = 0;

  beforeAll(async () => {
    ({ vault, close } = await testVault(backend));
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  it('append → verify → export → verify-bundle → archive → read back, for any accepted batch', async () => {
    const op = vault.operator({ actor: 'property', reason: 'test' });
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 6 }), async (batch) => {
        const session = `p${n++}`;
        try {
          await vault.session('bank', session).appendMany(batch);
        } catch (e: any) {
          // Refused input is the other half of the contract: a typed error, nothing stored.
          expect(e.code).toBe('INVALID_EVENT');
          expect((await vault.sessions('bank')).some((s) => s.session === session)).toBe(false);
          return;
        }
        const report = await vault.verify({ tenant: 'bank', session });
        expect(report.problems).toEqual([]);
        const bundle = await op.export('bank', session, { decrypt: true });
        expect((await verifyBundle(bundle)).problems).toEqual([]);
        expect((await op.archive('bank', session)).outcome).toBe('archived');
        const read = [];
        for await (const e of vault.session('bank', session).events()) read.push(e);
        expect(read).toHaveLength(batch.length);
        expect((await vault.verify({ tenant: 'bank', session })).ok).toBe(true);
      }),
      { numRuns: 12 },
    );
  });
});
