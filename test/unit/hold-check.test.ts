import fc from 'fast-check';
import { checkHolds, holdsLiftedOutside, RECORD_SKEW_MS, type HoldHistory } from '../../src/audit';
import type { AccessRecord } from '../../src/domain';

/**
 * The comparison of legal holds with the access trail, as a property over histories the
 * vault itself would write: operators setting and clearing holds on a few sessions, at
 * any pace, including settings while a hold is in force and clearings when none is (each
 * recorded `unchanged` after it), and calls that fail. Such a history has no problem; a clearing or a setting written without
 * a record, or a hold deleted, has one.
 */

type Op = { kind: 'set' | 'clear'; session: number; actor: number; reason: number; gapMs: number; rowDelayMs: number; fails: boolean };

const op = fc.record({
  kind: fc.constantFrom('set' as const, 'clear' as const),
  session: fc.integer({ min: 0, max: 2 }),
  actor: fc.integer({ min: 0, max: 1 }),
  reason: fc.integer({ min: 0, max: 1 }),
  // From the same millisecond to days apart.
  gapMs: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 3 * 86_400_000 })),
  // The record is written, and witnessed, before the row: a moment later.
  rowDelayMs: fc.integer({ min: 0, max: 2_000 }),
  fails: fc.boolean(),
});

type StoredRecord = AccessRecord & { storedAt: Date };

/** What the vault writes for these calls: the trail's records and the hold rows, each stamped by the database as it stores it (its clock here is the vault's). */
function simulate(ops: readonly Op[]): { holds: HoldHistory[]; records: StoredRecord[]; at: number } {
  const holds: HoldHistory[] = [];
  const records: StoredRecord[] = [];
  let at = Date.parse('2026-01-01T00:00:00Z');
  for (const o of ops) {
    at += o.gapMs;
    const base = { actor: `op${o.actor}`, action: `hold.${o.kind}`, tenant: 'bank', session: `s${o.session}`, reason: `reason ${o.reason}` };
    records.push({ ...base, seq: records.length + 1, at: new Date(at), storedAt: new Date(at), outcome: 'granted' });
    if (o.fails) {
      records.push({ ...base, seq: records.length + 1, at: new Date(at), storedAt: new Date(at), outcome: 'failed:UNKNOWN_SESSION' });
      continue;
    }
    at += o.rowDelayMs;
    const inForce = holds.find((h) => h.session === base.session && h.clearedAt === null);
    if (o.kind === 'set' && !inForce && holds.some((h) => h.session === base.session && h.setAt.getTime() === at)) {
      // A hold's key is its session and set_at: a second in the same millisecond fails.
      records.push({ ...base, seq: records.length + 1, at: new Date(at), storedAt: new Date(at), outcome: 'failed:STORAGE_FAILED' });
    } else if (o.kind === 'set' && !inForce) {
      holds.push({ tenant: 'bank', session: base.session, reason: base.reason, setBy: base.actor, setAt: new Date(at), clearedAt: null, clearedBy: null, clearReason: null, setStoredAt: new Date(at), clearedStoredAt: null });
    } else if (o.kind === 'clear' && inForce) {
      Object.assign(inForce, { clearedAt: new Date(at), clearedBy: base.actor, clearReason: base.reason, clearedStoredAt: new Date(at) });
    } else {
      // A setting while one is in force, a clearing when none is: nothing written, recorded so.
      records.push({ ...base, seq: records.length + 1, at: new Date(at), storedAt: new Date(at), outcome: 'unchanged' });
    }
  }
  return { holds, records, at };
}

describe('legal holds against the access trail (checkHolds)', () => {
  it('finds nothing wrong in any history the vault writes', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const { holds, records } = simulate(ops);
        expect(checkHolds(holds, records)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('names a hold in force cleared with no record, whoever and whatever time it is stamped with', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 10 * 86_400_000 }), (ops, actor, reason, after) => {
        const { holds, records } = simulate(ops);
        const target = holds.find((h) => h.clearedAt === null);
        fc.pre(target !== undefined);
        Object.assign(target!, { clearedAt: new Date(target!.setAt.getTime() + after), clearedBy: `op${actor}`, clearReason: `reason ${reason}` });
        expect(checkHolds(holds, records)).toContainEqual({ tenant: 'bank', session: target!.session, seq: 0, kind: 'hold_clear_unrecorded' });
      }),
      { numRuns: 500 },
    );
  });

  it("a record whose call stopped before its row accounts for a clearing stamped near it only where the database stored the two within the skew", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 * 86_400_000 }), (later) => {
        const t0 = Date.parse('2026-01-01T00:00:00Z');
        const t1 = t0 + 60_000;
        const base = { actor: 'op0', tenant: 'bank', session: 's0', reason: 'reason 0', outcome: 'granted' };
        const records = [
          { ...base, seq: 1, action: 'hold.set', at: new Date(t0), storedAt: new Date(t0) },
          { ...base, seq: 2, action: 'hold.clear', at: new Date(t1), storedAt: new Date(t1) }, // its process stopped here
        ];
        const hold: HoldHistory = {
          tenant: 'bank', session: 's0', reason: 'reason 0', setBy: 'op0', setAt: new Date(t0), setStoredAt: new Date(t0),
          clearedAt: new Date(t1 + 1), clearedBy: 'op0', clearReason: 'reason 0', clearedStoredAt: new Date(t1 + later),
        };
        expect(checkHolds([hold], records)).toEqual(later > RECORD_SKEW_MS ? [{ tenant: 'bank', session: 's0', seq: 0, kind: 'hold_clear_unrecorded' }] : []);
        // Without the database's times (rows stored before 0058), the stamps alone decide, as before.
        expect(checkHolds([{ ...hold, setStoredAt: null, clearedStoredAt: null }], records)).toEqual([]);
      }),
    );
  });

  it('names a hold placed with no record near its stamp', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 30 * 86_400_000 }), (ops, session, later) => {
        const { holds, records, at } = simulate(ops);
        fc.pre(!holds.some((h) => h.session === `s${session}` && h.clearedAt === null));
        const stamp = at + RECORD_SKEW_MS + later; // after every record, by more than the skew
        holds.push({ tenant: 'bank', session: `s${session}`, reason: 'reason 0', setBy: 'op0', setAt: new Date(stamp), clearedAt: null, clearedBy: null, clearReason: null });
        expect(checkHolds(holds, records)).toContainEqual({ tenant: 'bank', session: `s${session}`, seq: 0, kind: 'hold_set_unrecorded' });
      }),
      { numRuns: 500 },
    );
  });

  it('names the record of a hold whose row is gone, unless another hold was in force then', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.nat(), (ops, pick) => {
        const { holds, records } = simulate(ops);
        fc.pre(holds.length > 0);
        const [gone] = holds.splice(pick % holds.length, 1);
        const problems = checkHolds(holds, records);
        const others = holds.filter((h) => h.session === gone!.session);
        const near = (h: HoldHistory) => h.setAt.getTime() <= gone!.setAt.getTime() + 2 * RECORD_SKEW_MS && (h.clearedAt === null || h.clearedAt.getTime() >= gone!.setAt.getTime() - 2 * RECORD_SKEW_MS);
        if (!others.some(near)) expect(problems).toContainEqual(expect.objectContaining({ session: gone!.session, kind: 'hold_missing' }));
        // Its clearing, if it had one, is not pinned on another hold.
        expect(problems.filter((p) => p.kind !== 'hold_missing')).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('matches a hold to the record nearest its stamp, so a setting that changed nothing cannot stand in for it', () => {
    // set (in force), set again a minute later (nothing changes), cleared, cleared again
    // (nothing to clear), set anew: then the second hold is cleared with no record, as
    // the second clearing's actor and reason, a minute after it was set.
    const MIN = 60_000;
    const t = Date.parse('2026-01-01T00:00:00Z');
    const ops: Op[] = [
      { kind: 'set', session: 0, actor: 0, reason: 0, gapMs: 0, rowDelayMs: 0, fails: false },
      { kind: 'set', session: 0, actor: 0, reason: 0, gapMs: MIN, rowDelayMs: 0, fails: false },
      { kind: 'clear', session: 0, actor: 1, reason: 1, gapMs: MIN, rowDelayMs: 0, fails: false },
      { kind: 'clear', session: 0, actor: 1, reason: 1, gapMs: MIN, rowDelayMs: 0, fails: false },
      { kind: 'set', session: 0, actor: 0, reason: 0, gapMs: MIN, rowDelayMs: 0, fails: false },
    ];
    const { holds, records } = simulate(ops);
    expect(checkHolds(holds, records)).toEqual([]);
    Object.assign(holds[1]!, { clearedAt: new Date(t + 5 * MIN), clearedBy: 'op1', clearReason: 'reason 1' });
    expect(checkHolds(holds, records)).toEqual([{ tenant: 'bank', session: 's0', seq: 0, kind: 'hold_clear_unrecorded' }]);
  });

  it("keeps a session held while its latest hold was cleared with no record; a later hold set and cleared through the vault lifts it", () => {
    const at = Date.parse('2026-01-01T00:00:00Z');
    const set = (session: number, gapMs: number): Op => ({ kind: 'set', session, actor: 0, reason: 0, gapMs, rowDelayMs: 1, fails: false });
    const { holds, records } = simulate([set(0, 0), set(1, 0)]);
    expect(holdsLiftedOutside(holds, records)).toEqual([]);
    Object.assign(holds[0]!, { clearedAt: new Date(at + 60_000), clearedBy: 'op1', clearReason: 'reason 1' }); // s0's, with no record
    expect(holdsLiftedOutside(holds, records)).toEqual(['s0']);
    // Its clearing's record missing, then set and cleared again a day later through the
    // vault: the latest hold is recorded, the session is free; the first stays reported.
    const clear = (session: number, gapMs: number): Op => ({ kind: 'clear', session, actor: 1, reason: 1, gapMs, rowDelayMs: 1, fails: false });
    const later = simulate([set(0, 0), clear(0, 60_000), set(0, 86_400_000), clear(0, 1000)]);
    const records2 = later.records.filter((r) => r.seq !== 2);
    expect(checkHolds(later.holds, records2)).toEqual([{ tenant: 'bank', session: 's0', seq: 0, kind: 'hold_clear_unrecorded' }]);
    expect(holdsLiftedOutside(later.holds, records2)).toEqual([]);
    expect(holdsLiftedOutside(later.holds.slice(0, 1), records2.slice(0, 1))).toEqual(['s0']);
  });

  it('a failed call, or one that changed nothing, accounts for no hold: its granted record is cancelled by the record that follows it', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const base = { actor: 'op0', action: 'hold.set', tenant: 'bank', session: 's0', reason: 'r', at };
    const hold: HoldHistory = { tenant: 'bank', session: 's0', reason: 'r', setBy: 'op0', setAt: at, clearedAt: null, clearedBy: null, clearReason: null };
    expect(checkHolds([hold], [{ ...base, seq: 1, outcome: 'granted' }, { ...base, seq: 2, outcome: 'failed:STORAGE_FAILED' }])).toEqual([
      { tenant: 'bank', session: 's0', seq: 0, kind: 'hold_set_unrecorded' },
    ]);
    expect(checkHolds([hold], [{ ...base, seq: 1, outcome: 'granted' }])).toEqual([]);
    // A call that changed nothing (one in force already) likewise, by the `unchanged` record that follows it.
    expect(checkHolds([hold], [{ ...base, seq: 1, outcome: 'granted' }, { ...base, seq: 2, outcome: 'unchanged' }])).toEqual([
      { tenant: 'bank', session: 's0', seq: 0, kind: 'hold_set_unrecorded' },
    ]);
    // Another tenant's record with the same session name is not this hold's.
    expect(checkHolds([hold], [{ ...base, tenant: 'other', seq: 1, outcome: 'granted' }])).toEqual([
      { tenant: 'bank', session: 's0', seq: 0, kind: 'hold_set_unrecorded' },
      { tenant: 'other', session: 's0', seq: 1, kind: 'hold_missing' },
    ]);
  });
});
