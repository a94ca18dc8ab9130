import fc from 'fast-check';
import type { AccessRecord } from '../../src/domain';
import { RECORD_SKEW_MS } from '../../src/audit';
import { addDuration, atLeast, floorRecorded, formatDuration, longer as longerOf, parseDuration, policyRecorded, parsePolicy, policyAction, policyRecords, withFloor, type Duration, type FloorStamp, type PolicyRecord, type PolicyStamp, type RetentionPolicy } from '../../src/retention';
import { trailRetention } from '../../src/vault/recorded-retention';

/**
 * Retention policies and floors against the access trail's records of policy changes
 * (retention/recorded-policy.ts), as a property over histories the vault itself writes:
 * policy changes at any pace, overrides, compliance mode, calls that fail, sessions opened
 * at any moment (between a change's record and its row included) and archived. Such a
 * history has no problem, and the trail never moves the vault's own purge dates; a floor
 * lowered or a policy row rewritten outside the vault is named, and the purge date the
 * trail gives stays what the session was promised.
 */

const FALLBACK = '7y';
const DAY = 86_400_000;

type Op =
  | { kind: 'set'; archiveAfter: string; retain: string; mode: 'compliance' | 'governance' | null; override: boolean; fails: boolean; openDuring: boolean; gapMs: number; rowDelayMs: number }
  | { kind: 'open'; gapMs: number }
  | { kind: 'archive'; session: number; gapMs: number }
  | { kind: 'purge'; session: number; gapMs: number };

const gap = fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 10 * 60_000 }), fc.integer({ min: 0, max: 400 * DAY }));
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('set' as const),
    archiveAfter: fc.constantFrom('1d', '28d'),
    // With pairs neither of which is as long as the other from every start (`30d`, `1mo`; `2556d`, `7y`): each counts from its own.
    retain: fc.constantFrom('30d', '1mo', '31d', '1y', '12mo', '52w', '365d', '7y', '2556d', '2557d', '10y'),
    mode: fc.constantFrom(null, null, null, 'compliance' as const, 'governance' as const),
    override: fc.boolean(),
    fails: fc.boolean(),
    openDuring: fc.boolean(),
    gapMs: gap,
    rowDelayMs: fc.integer({ min: 0, max: 2_000 }),
  }),
  fc.record({ kind: fc.constant('open' as const), gapMs: gap }),
  fc.record({ kind: fc.constant('archive' as const), session: fc.nat(), gapMs: gap }),
  fc.record({ kind: fc.constant('purge' as const), session: fc.nat(), gapMs: gap }),
);

interface History {
  row: PolicyStamp | null;
  sessions: FloorStamp[];
  records: AccessRecord[];
  at: number;
  /** Each session's floor as promised: its policy when created, raised by archiving, set by overrides. */
  promised: Map<string, string>;
  /** Each session's floor when it was created. */
  created: Map<string, string>;
}

/** The floor the vault's archive writes: the longer of the two from every start. */
const longer = (a: string, b: string) => formatDuration(longerOf(parseDuration(a, 'a'), parseDuration(b, 'b')));

/** What the vault writes for these calls: the trail's records, the policy row and the sessions' floors. */
function simulate(ops: readonly Op[]): History {
  const h: History = { row: null, sessions: [], records: [], at: Date.parse('2026-01-01T00:00:00Z'), promised: new Map(), created: new Map() };
  const open = () => {
    const s = { tenant: 'bank', session: `s${h.sessions.length}`, headSeq: 1, createdAt: new Date(h.at), retainFloor: h.row?.retain ?? FALLBACK };
    h.sessions.push(s);
    h.promised.set(s.session, s.retainFloor);
    h.created.set(s.session, s.retainFloor);
  };
  for (const o of ops) {
    h.at += o.gapMs;
    if (o.kind === 'open') open();
    else if (o.kind === 'archive') {
      const s = h.sessions[o.session % Math.max(1, h.sessions.length)];
      if (s && !s.purgedAt) {
        s.retainFloor = longer(s.retainFloor!, h.row?.retain ?? FALLBACK);
        s.archivedAt = [...(s.archivedAt ?? []), new Date(h.at)]; // the archive record's time
        h.promised.set(s.session, longer(h.promised.get(s.session)!, h.row?.retain ?? FALLBACK));
      }
    } else if (o.kind === 'purge') {
      const s = h.sessions[o.session % Math.max(1, h.sessions.length)];
      if (s && !s.purgedAt) s.purgedAt = new Date(h.at); // its floor is final from now on
    } else {
      const actor = o.override ? 'ops' : 'admin';
      const base = { actor, action: policyAction({ override: o.override, policy: parsePolicy(o), ...(o.mode ? { mode: o.mode } : {}) }), tenant: 'bank', session: null, reason: o.override ? 'RP-4' : null };
      h.records.push({ ...base, seq: h.records.length + 1, at: new Date(h.at), outcome: 'granted' });
      const locked = h.row?.mode === 'compliance' && (o.mode === 'governance' || o.override);
      if (o.fails || locked) {
        h.records.push({ ...base, seq: h.records.length + 1, at: new Date(h.at), outcome: locked ? 'failed:RETENTION_LOCKED' : 'failed:STORAGE_UNAVAILABLE' });
        continue;
      }
      if (o.openDuring) open(); // between the record and the row: the old policy
      h.at += o.rowDelayMs;
      h.row = { archiveAfter: o.archiveAfter, retain: o.retain, mode: o.mode ?? h.row?.mode ?? 'governance', setBy: actor, setAt: new Date(h.at) };
      if (o.override) for (const s of h.sessions.filter((x) => !x.purgedAt)) h.promised.set(s.session, (s.retainFloor = o.retain));
    }
  }
  return h;
}

const fallback = parseDuration(FALLBACK, 'default');

/** What verify names for a tenant: its policy row, then each session whose floor is short of what it was promised. */
function checkRetention(tenant: string, row: PolicyStamp | null, sessions: readonly FloorStamp[], history: readonly PolicyRecord[], fallback: Duration) {
  const problems: { tenant: string; session: string; seq: number; kind: string }[] = [];
  if (!policyRecorded(row, history)) problems.push({ tenant, session: '(retention policy)', seq: history[history.length - 1]?.seq ?? 0, kind: 'policy_unrecorded' });
  for (const s of sessions) if (!floorRecorded(s, history, fallback)) problems.push({ tenant: s.tenant, session: s.session, seq: s.headSeq, kind: 'floor_unrecorded' });
  return problems;
}
const rowPolicy = (h: History): RetentionPolicy => (h.row ? parsePolicy(h.row) : { archiveAfter: parseDuration('30d', 'a'), retain: fallback });
const purgeDate = (p: RetentionPolicy) => addDuration(new Date(0), p.retain).getTime();
const vaultDate = (h: History, s: FloorStamp) => purgeDate(withFloor(rowPolicy(h), parseDuration(s.retainFloor!, 'floor')));
const trailRetain = (h: History, s: FloorStamp) => trailRetention(withFloor(rowPolicy(h), parseDuration(s.retainFloor!, 'floor')), policyRecords(h.records), s, fallback).retain;
const trailDate = (h: History, s: FloorStamp) => purgeDate({ archiveAfter: fallback, retain: trailRetain(h, s) });

describe('retention policies and floors against the access trail', () => {
  it('finds nothing wrong in any history the vault writes, and leaves the vault\'s own purge dates as they are', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const h = simulate(ops);
        expect(checkRetention('bank', h.row, h.sessions, policyRecords(h.records), fallback)).toEqual([]);
        for (const s of h.sessions.filter((x) => !x.purgedAt)) expect(trailDate(h, s)).toBe(vaultDate(h, s));
      }),
      { numRuns: 500 },
    );
  });

  it('takes a purged session to be kept as an override just before its purge set it, though another came just after it', () => {
    // Found by the property above: the purge 2 minutes after an override to 30d, a second override (2556d) 3 minutes after the purge.
    const h = simulate([
      { kind: 'set', archiveAfter: '1d', retain: '30d', mode: null, override: true, fails: false, openDuring: true, gapMs: 0, rowDelayMs: 0 },
      { kind: 'purge', session: 0, gapMs: 119_422 },
      { kind: 'archive', session: 0, gapMs: 1_969 },
      { kind: 'set', archiveAfter: '1d', retain: '2556d', mode: null, override: true, fails: false, openDuring: false, gapMs: 178_610, rowDelayMs: 0 },
    ]);
    expect(h.sessions.map((s) => [s.retainFloor, Boolean(s.purgedAt)])).toEqual([['30d', true]]);
    expect(checkRetention('bank', h.row, h.sessions, policyRecords(h.records), fallback)).toEqual([]);
  });

  it('names a floor lowered outside the vault, and the trail keeps the session to what it was promised', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.nat(), (ops, pick) => {
        const apart = ops.map((o) => ({ ...o, gapMs: RECORD_SKEW_MS + 1 + o.gapMs, ...(o.kind === 'set' ? { openDuring: false } : {}) }));
        const h = simulate([...apart, { kind: 'open', gapMs: RECORD_SKEW_MS + 1 }]);
        const victim = h.sessions[pick % h.sessions.length]!;
        victim.retainFloor = '1d';
        if (h.row) h.row = { ...h.row, retain: '1d', archiveAfter: '1d' }; // the thief shortens the policy too
        const problems = checkRetention('bank', h.row, h.sessions, policyRecords(h.records), fallback);
        expect(problems).toContainEqual({ tenant: 'bank', session: victim.session, seq: 1, kind: 'floor_unrecorded' });
        if (h.row) expect(problems).toContainEqual(expect.objectContaining({ session: '(retention policy)', kind: 'policy_unrecorded' }));
        // Kept at least as long as it was promised, from every start (changes here are far enough apart for the trail to know which applied).
        if (!victim.purgedAt) expect(atLeast(trailRetain(h, victim), parseDuration(h.promised.get(victim.session)!, 'promised'))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('names a floor that archiving raised, lowered back to what the session was created with, and the trail keeps the raise', () => {
    const ms = (d: string) => addDuration(new Date(0), parseDuration(d, 'd')).getTime();
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.nat(), (ops, pick) => {
        const apart = ops.map((o) => ({ ...o, gapMs: RECORD_SKEW_MS + 1 + o.gapMs, ...(o.kind === 'set' ? { openDuring: false } : {}) }));
        // Few random histories raise a floor by archiving: each ends with one that does (a session created under 30d, archived under 10y).
        const opened = simulate(apart).sessions.length;
        const set = (retain: string): Op => ({ kind: 'set', archiveAfter: '1d', retain, mode: null, override: false, fails: false, openDuring: false, gapMs: RECORD_SKEW_MS + 1, rowDelayMs: 0 });
        const h = simulate([...apart, set('30d'), { kind: 'open', gapMs: RECORD_SKEW_MS + 1 }, set('10y'), { kind: 'archive', session: opened, gapMs: RECORD_SKEW_MS + 1 }]);
        const raised = h.sessions.filter((x) => x.archivedAt && ms(h.promised.get(x.session)!) > ms(h.created.get(x.session)!));
        expect(raised.map((x) => x.session)).toContain(`s${opened}`);
        const victim = raised[pick % raised.length]!;
        victim.retainFloor = h.created.get(victim.session)!;
        expect(checkRetention('bank', h.row, h.sessions, policyRecords(h.records), fallback)).toContainEqual({ tenant: 'bank', session: victim.session, seq: 1, kind: 'floor_unrecorded' });
        if (!victim.purgedAt) expect(atLeast(trailRetain(h, victim), parseDuration(h.promised.get(victim.session)!, 'promised'))).toBe(true);
      }),
      { numRuns: 300 },
    );
    // One history, spelled out: created under 1y, archived under 7y, lowered back to 1y.
    const at = Date.parse('2026-01-01T00:00:00Z');
    const rec = (seq: number, days: number, action: string): AccessRecord => ({ seq, at: new Date(at + days * DAY), actor: 'admin', action, tenant: 'bank', session: null, reason: null, outcome: 'granted' });
    const history = policyRecords([rec(1, 0, 'retention.set:30d/1y'), rec(2, 10, 'retention.set:30d/7y')]);
    const session: FloorStamp = { tenant: 'bank', session: 's', headSeq: 2, createdAt: new Date(at + DAY), retainFloor: '1y', archivedAt: [new Date(at + 40 * DAY)] };
    expect(floorRecorded(session, history, fallback)).toBe(false);
    expect(floorRecorded({ ...session, retainFloor: '7y' }, history, fallback)).toBe(true);
    expect(floorRecorded({ ...session, archivedAt: [] }, history, fallback)).toBe(true); // never archived: 1y was its promise
  });

  it('names a floor raised outside the vault, to keep a session past its retention', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.nat(), (ops, pick) => {
        const h = simulate([...ops, { kind: 'open', gapMs: 1 }]);
        const victim = h.sessions[pick % h.sessions.length]!;
        victim.retainFloor = '99y';
        expect(checkRetention('bank', h.row, h.sessions, policyRecords(h.records), fallback)).toEqual([{ tenant: 'bank', session: victim.session, seq: 1, kind: 'floor_unrecorded' }]);
      }),
      { numRuns: 200 },
    );
  });

  it('names a policy row the trail has no change for: written by someone else, at another time, with other values or mode, or with none recorded', () => {
    const at = Date.parse('2026-06-01T00:00:00Z');
    const records: AccessRecord[] = [{ seq: 1, at: new Date(at), actor: 'admin', action: 'retention.set:30d/7y', tenant: 'bank', session: null, reason: null, outcome: 'granted' }];
    const row: PolicyStamp = { archiveAfter: '30d', retain: '7y', mode: 'governance', setBy: 'admin', setAt: new Date(at + 5) };
    const problems = (r: PolicyStamp | null, rs = records) => checkRetention('bank', r, [], policyRecords(rs), fallback).map((p) => p.kind);
    expect(problems(row)).toEqual([]);
    // `infinity` (stored past the database's check, drizzle/0066) reads as no time: it is in no record's minutes.
    for (const forged of [{ setBy: 'mallory' }, { setAt: new Date(at + RECORD_SKEW_MS + 1) }, { setAt: new Date(NaN) }, { retain: '30d' }, { archiveAfter: '1d' }]) {
      expect(problems({ ...row, ...forged })).toEqual(['policy_unrecorded']);
    }
    expect(problems(row, [])).toEqual(['policy_unrecorded']);
    // A tenant created before tenants' default policies were recorded has only that default's row.
    expect(problems({ ...row, setBy: '(default)' }, [])).toEqual([]);
    expect(problems(null)).toEqual(['policy_unrecorded']); // a row deleted
    expect(problems(null, [])).toEqual([]);
    // Compliance mode is for good: a row back in governance mode is not one the vault wrote.
    const compliance = [...records, { ...records[0]!, seq: 2, at: new Date(at + 10 * DAY), action: 'retention.set:30d/7y/compliance' }];
    expect(problems({ ...row, setAt: new Date(at + 10 * DAY), mode: 'compliance' }, compliance)).toEqual([]);
    expect(problems({ ...row, setAt: new Date(at + 10 * DAY), mode: 'governance' }, compliance)).toEqual(['policy_unrecorded']);
    // A later change that did not fail, recorded well before the row was stamped: the row should be that one's.
    const later = [...records, { ...records[0]!, seq: 2, at: new Date(at + DAY), action: 'retention.set:30d/10y' }];
    expect(problems({ ...row, setAt: new Date(at + 2 * DAY) }, later)).toEqual(['policy_unrecorded']);
  });

  it('names an earlier recorded policy written back into the row at no time (`infinity`), and keeps a session created at no time to the longest policy recorded', () => {
    const ms = (d: string) => addDuration(new Date(0), parseDuration(d, 'd')).getTime();
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.nat(), (ops, pick) => {
        const h = simulate(ops);
        const changes = policyRecords(h.records);
        fc.pre(h.row !== null && changes.length > 0);
        // Any change the trail records, by its own actor, written back at no time: the old code matched it to every record of that actor.
        const earlier = changes[pick % changes.length]!;
        const row: PolicyStamp = { ...h.row!, setBy: earlier.actor, setAt: new Date(NaN), ...(earlier.policy ? { archiveAfter: formatDuration(earlier.policy.archiveAfter), retain: formatDuration(earlier.policy.retain) } : {}) };
        expect(checkRetention('bank', row, [], changes, fallback)).toContainEqual(expect.objectContaining({ session: '(retention policy)', kind: 'policy_unrecorded' }));
        // A session whose creation time is no time may have been created under any of them: kept to the longest, never to the default alone.
        const lost: FloorStamp = { tenant: 'bank', session: 'lost', headSeq: 1, createdAt: new Date(NaN), retainFloor: null };
        const kept = trailDate(h, { ...lost, retainFloor: '1d' });
        for (const r of changes) if (r.policy) expect(kept).toBeGreaterThanOrEqual(ms(formatDuration(r.policy.retain)));
        expect(kept).toBeGreaterThanOrEqual(ms(FALLBACK));
      }),
      { numRuns: 300 },
    );
  });

  it('does not judge what a record written before records carried values leaves unknown, and parses no stray values', () => {
    const at = Date.parse('2026-06-01T00:00:00Z');
    const legacy: AccessRecord = { seq: 1, at: new Date(at), actor: 'admin', action: 'retention.set', tenant: 'bank', session: null, reason: null, outcome: 'granted' };
    const session: FloorStamp = { tenant: 'bank', session: 's', headSeq: 3, createdAt: new Date(at + DAY), retainFloor: '1d' };
    const row: PolicyStamp = { archiveAfter: '1d', retain: '1d', mode: 'governance', setBy: 'admin', setAt: new Date(at) };
    expect(checkRetention('bank', row, [session], policyRecords([legacy]), fallback)).toEqual([]);
    for (const action of ['retention.set:30d', 'retention.set:30d/7y/forever', 'retention.set:30d/7y/compliance/x', 'retention.set:30x/7y']) {
      expect(policyRecords([{ ...legacy, action }])).toEqual([expect.objectContaining({ policy: null })]);
    }
    expect(policyRecords([{ ...legacy, action: 'retention.setx:30d/7y' }, { ...legacy, action: 'retention.purge' }])).toEqual([]);
    // The same floor, with values on record, is named.
    expect(checkRetention('bank', row, [session], policyRecords([{ ...legacy, action: 'retention.set:1d/7y' }]), fallback).map((p) => p.kind)).toEqual(['policy_unrecorded', 'floor_unrecorded']);
  });
});

