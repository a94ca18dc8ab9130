import { checkPurges, RECORD_SKEW_MS, type PurgeStamp } from '../../src/audit';
import type { AccessRecord } from '../../src/domain';

/** A tombstone against the trail's purge records (audit/purge-check.ts). */
describe('purges against the access trail (checkPurges)', () => {
  const at = Date.parse('2026-06-01T00:00:00Z');
  const tombstone: PurgeStamp = { tenant: 'bank', session: 's', headSeq: 7, purgedBy: 'alice', purgedAt: new Date(at) };
  const record = (over: Partial<AccessRecord> = {}): AccessRecord => ({ seq: 1, at: new Date(at - 1), actor: 'alice', action: 'retention.purge', tenant: 'bank', session: 's', reason: null, outcome: 'granted', ...over });
  const unrecorded = [{ tenant: 'bank', session: 's', seq: 7, kind: 'purge_unrecorded' }];

  it('accepts a purge recorded before it, however long before (a retention run records its group first)', () => {
    expect(checkPurges([tombstone], [record()])).toEqual([]);
    expect(checkPurges([tombstone], [record({ at: new Date(at - 30 * 86_400_000) })])).toEqual([]);
    expect(checkPurges([tombstone], [record({ at: new Date(at + RECORD_SKEW_MS) })])).toEqual([]); // a clock a little behind
  });

  it('names a tombstone whose record is by someone else, of another session or tenant, of another action, too late, or failed', () => {
    for (const over of [{ actor: 'bob' }, { session: 't' }, { tenant: 'other' }, { action: 'retention.archive' }, { action: 'retention.finish-purge' }, { at: new Date(at + RECORD_SKEW_MS + 1) }]) {
      expect(checkPurges([tombstone], [record(over)])).toEqual(unrecorded);
    }
    expect(checkPurges([tombstone], [record(), record({ seq: 2, outcome: 'failed:RETENTION_NOT_DUE' })])).toEqual(unrecorded);
    expect(checkPurges([tombstone], [])).toEqual(unrecorded);
  });
});
