import { signedHeadTime, type SignedHead } from '../../src/audit';
import { ensureSodium } from '../../src/crypto';

beforeAll(ensureSodium);

/** The signed time retention counts from when a row's is earlier (audit/head-check.ts). */
describe("a head's signed time (signedHeadTime)", () => {
  const hash = new Uint8Array(32).fill(7);
  const other = new Uint8Array(32).fill(8);
  const head = (over: Partial<SignedHead>): SignedHead => ({ seq: 5, hash, source: 'checkpoint', time: new Date('2026-03-01T09:00:00Z'), ...over });

  it('is the earliest time signed for that seq and hash: the append signs the event time, a later checkpoint run its own', () => {
    const heads = [head({ time: new Date('2026-03-02T00:00:00Z'), source: 'witness' }), head({}), head({ time: new Date('2026-03-05T00:00:00Z') })];
    expect(signedHeadTime(heads, 5, hash)).toEqual(new Date('2026-03-01T09:00:00Z'));
  });

  it('ignores heads of another seq or hash, heads without a time (snapshots), and a session with no head hash', () => {
    const heads = [head({ seq: 4, time: new Date('2020-01-01T00:00:00Z') }), head({ hash: other, time: new Date('2020-01-01T00:00:00Z') }), { seq: 5, hash, source: 'snapshot' as const }];
    expect(signedHeadTime(heads, 5, hash)).toBeNull();
    expect(signedHeadTime([head({})], 5, null)).toBeNull();
  });
});
