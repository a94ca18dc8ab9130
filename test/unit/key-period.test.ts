import fc from 'fast-check';
import { checkpointTimeProblem, KEY_PERIOD_GRACE_MS, laterKeys, recordInPeriod, keysVouchingAt, storedAfterPeriod, type KeyPeriods, type VerifiedCheckpoint } from '../../src/audit';

/**
 * When a checkpoint may vouch for its head by its signed time (audit/key-period.ts): in its
 * key's period, and no earlier than the event it signs, each with 5 minutes' grace for
 * clock skew. The attacks themselves are in test/integration/retired-signing-key.test.ts.
 */
const retiredAt = new Date('2026-06-01T12:00:00Z');
const periods: KeyPeriods = new Map([
  ['old', { from: new Date('2025-01-01T00:00:00Z'), until: retiredAt }],
  ['new', { from: retiredAt, until: null }],
]);
const signed = (keyId: string, time: Date): VerifiedCheckpoint => ({ keyId, checkpoint: { tenant: 't', session: 's', seq: 1, hash: new Uint8Array(32), time } });
const plus = (d: Date, ms: number) => new Date(d.getTime() + ms);

describe('checkpointTimeProblem', () => {
  it("holds a retired key to its period, with the grace and not a millisecond more; a key not retired, or not in the keyring, to none", () => {
    expect(checkpointTimeProblem(signed('old', plus(retiredAt, KEY_PERIOD_GRACE_MS)), periods, null, null)).toBeNull();
    expect(checkpointTimeProblem(signed('old', plus(retiredAt, KEY_PERIOD_GRACE_MS + 1)), periods, null, null)).toBe('outside_key_period');
    expect(checkpointTimeProblem(signed('new', plus(retiredAt, 10 * 365 * 86_400_000)), periods, null, null)).toBeNull();
    expect(checkpointTimeProblem(signed('token', plus(retiredAt, 10 * 365 * 86_400_000)), periods, null, null)).toBeNull();
  });

  it('refuses a checkpoint dated before the event it signs by more than the grace, whatever its key', () => {
    fc.assert(
      fc.property(fc.constantFrom('old', 'new', 'token'), fc.integer({ min: -3_600_000, max: 3_600_000 }), (key, offset) => {
        const eventAt = plus(retiredAt, -3_600_000); // in every key's period
        const problem = checkpointTimeProblem(signed(key, plus(eventAt, offset)), periods, eventAt, null);
        expect(problem).toBe(offset < -KEY_PERIOD_GRACE_MS ? 'before_event' : null);
      }),
    );
  });

  it("holds a retired key's checkpoint to being stored in its period too, with the grace, whatever time it states; one stored before 0055 (null) by its time alone", () => {
    fc.assert(
      fc.property(fc.constantFrom('old', 'new', 'token'), fc.integer({ min: -3_600_000, max: 3_600_000 }), (key, offset) => {
        const storedAt = plus(retiredAt, KEY_PERIOD_GRACE_MS + offset);
        const late = key === 'old' && offset > 0;
        expect(storedAfterPeriod(key, storedAt, periods)).toBe(late);
        // Dated back into the period, and no earlier than its event: only where it was stored tells.
        expect(checkpointTimeProblem(signed(key, plus(retiredAt, -60_000)), periods, plus(retiredAt, -60_000), storedAt)).toBe(late ? 'outside_key_period' : null);
      }),
    );
    expect(checkpointTimeProblem(signed('old', plus(retiredAt, -60_000)), periods, null, null)).toBeNull();
    expect(storedAfterPeriod('old', undefined, periods)).toBe(false);
  });

  it('names the period first: a retired key signing after it, whatever the event says', () => {
    expect(checkpointTimeProblem(signed('old', plus(retiredAt, 3_600_000)), periods, plus(retiredAt, 7_200_000), null)).toBe('outside_key_period');
  });
});

describe('keysVouchingAt (signatures that carry no time: snapshots)', () => {
  const keys = new Map([
    ['old', new Uint8Array([1])],
    ['new', new Uint8Array([2])],
    ['token', new Uint8Array([3])],
  ]);
  it('keeps keys still in their period, and keys the keyring gives no period (the witness, a token), whenever stored', () => {
    for (const storedAt of [null, undefined, plus(retiredAt, 3_600_000)]) expect([...keysVouchingAt(keys, periods, storedAt).keys()]).toEqual(['new', 'token']);
  });
  it('keeps a retired key only where the database stored the signature in its period, with the grace', () => {
    expect([...keysVouchingAt(keys, periods, plus(retiredAt, KEY_PERIOD_GRACE_MS)).keys()]).toEqual(['old', 'new', 'token']);
    expect([...keysVouchingAt(keys, periods, plus(retiredAt, KEY_PERIOD_GRACE_MS + 1)).keys()]).toEqual(['new', 'token']);
  });
});

describe('laterKeys and recordInPeriod (access records)', () => {
  it('a retired key is followed by the keys created from its retirement on (less the grace); a key not retired by none', () => {
    const more: KeyPeriods = new Map([...periods, ['older', { from: new Date('2024-01-01T00:00:00Z'), until: new Date('2025-01-01T00:00:00Z') }]]);
    expect(laterKeys('old', more)).toEqual(['new']);
    expect(laterKeys('older', more).sort()).toEqual(['new', 'old']);
    expect(laterKeys('new', more)).toEqual([]);
    expect(laterKeys('token', more)).toEqual([]);
    // Created after it by its recorded time, but retired before it: it does not follow it.
    const skewed: KeyPeriods = new Map([...periods, ['early', { from: plus(retiredAt, -60_000), until: plus(retiredAt, -120_000) }]]);
    expect(laterKeys('old', skewed)).toEqual(['new']);
  });

  it("counts a retired key's record only in its period, before a following key signed anything and stored in its period; others always", () => {
    expect(recordInPeriod('old', retiredAt, periods, false, null)).toBe(true);
    expect(recordInPeriod('old', plus(retiredAt, KEY_PERIOD_GRACE_MS + 1), periods, false, null)).toBe(false);
    expect(recordInPeriod('old', plus(retiredAt, -3_600_000), periods, true, null)).toBe(false); // dated back, after the new key's first record
    expect(recordInPeriod('new', plus(retiredAt, 10 * 365 * 86_400_000), periods, true, null)).toBe(true);
    expect(recordInPeriod('token', retiredAt, periods, true, null)).toBe(true);
    // Dated in its period and before any following key signed, but stored after it (a rotation made by hand, whose new key has signed nothing yet).
    expect(recordInPeriod('old', plus(retiredAt, -60_000), periods, false, plus(retiredAt, KEY_PERIOD_GRACE_MS))).toBe(true);
    expect(recordInPeriod('old', plus(retiredAt, -60_000), periods, false, plus(retiredAt, KEY_PERIOD_GRACE_MS + 1))).toBe(false);
    expect(recordInPeriod('new', plus(retiredAt, -60_000), periods, false, plus(retiredAt, 10 * 365 * 86_400_000))).toBe(true);
  });
});
