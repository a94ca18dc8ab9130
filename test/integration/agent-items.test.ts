import fc from 'fast-check';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { VaultAgentSession } from '../../src/integrations/openai';
import type { Vault } from '../../src/vault';

/**
 * `getItems(limit)` reads off the latest state (up to the vault's snapshot window) or back
 * from the head, instead of replaying the session: for any sequence of adds, pops and
 * clears, it gives what the full replay gives for the last `limit` items.
 */
afterAll(dropCreatedDatabases);

type Op = { op: 'add'; n: number } | { op: 'pop' } | { op: 'clear' } | { op: 'other' };
const ops = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('add' as const), n: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 2, arbitrary: fc.constant({ op: 'pop' as const }) },
    { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
    { weight: 1, arbitrary: fc.constant({ op: 'other' as const }) },
  ),
  { maxLength: 25 },
);

describe.each(backends())('Agents SDK getItems(limit) on $name', (backend) => {
  let vault: Vault;
  let close: () => Promise<void>;
  beforeAll(async () => {
    // A snapshot window of 4: limits up to 4 are read off the latest state, wider ones back from the head.
    ({ vault, close } = await testVault(backend, { snapshotWindow: 4, snapshotEvery: 6 }));
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  it('equals the last items of a full replay, after any adds, pops and clears, turn after turn', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(ops, fc.integer({ min: 1, max: 12 }), async (script: Op[], limit) => {
        const session = vault.session('bank', `items-${run++}`);
        const s = new VaultAgentSession(session);
        let next = 0;
        for (const o of script) {
          if (o.op === 'add') await s.addItems(Array.from({ length: o.n }, () => ({ role: 'user', content: `item ${next++}` }) as never));
          else if (o.op === 'pop') await s.popItem();
          else if (o.op === 'clear') await s.clearSession();
          else await session.append({ type: 'task', task: 'not an item' });
          const all = await s.getItems();
          expect(await s.getItems(limit)).toEqual(all.slice(-limit));
        }
      }),
      { numRuns: 40 },
    );
  }, 300_000);
});
