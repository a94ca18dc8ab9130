import fc from 'fast-check';
import { gzipSync, gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { ensureSodium, generateKey } from '../../src/crypto';
import { GENESIS_HASH, sealEvent } from '../../src/events';
import type { StoredEvent } from '../../src/domain';
import { addDuration, atLeast, decide, decodeArchive, encodeArchive, longer, parseDuration, parsePolicy, shorter, withFloor, DEFAULT_POLICY, type Duration } from '../../src/retention';

beforeAll(ensureSodium);

const DAY = 86_400_000;

describe('durations', () => {
  it('parse what operators write and refuse the rest', () => {
    expect(parseDuration('30d', 'x')).toEqual({ amount: 30, unit: 'd' });
    expect(parseDuration('18mo', 'x')).toEqual({ amount: 18, unit: 'mo' });
    // 7031y is past the year 9000; 273791y past the last year a Date holds (275760), where the sum is no time and compared as neither.
    expect(parseDuration('7030y', 'x')).toEqual({ amount: 7030, unit: 'y' });
    for (const bad of ['', '30', 'd', '0d', '-1d', '1.5y', '30 d', '7Y', '1m', '01d', '9999999y', '7031y', '273791y', '999999y', '999999mo', '366808w']) {
      expect(() => parseDuration(bad, '--retain')).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    }
  });

  it('count calendar years and months, clamping to the end of a shorter month', () => {
    expect(addDuration(new Date('2020-02-29T10:00:00Z'), { amount: 1, unit: 'y' }).toISOString()).toBe('2021-02-28T10:00:00.000Z');
    expect(addDuration(new Date('2026-01-31T00:00:00Z'), { amount: 1, unit: 'mo' }).toISOString()).toBe('2026-02-28T00:00:00.000Z');
    expect(addDuration(new Date('2026-11-23T00:00:00Z'), { amount: 6, unit: 'y' }).toISOString()).toBe('2032-11-23T00:00:00.000Z');
  });

  it('never keep a record less than the whole calendar period', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1990-01-01'), max: new Date('2090-01-01'), noInvalidDate: true }), fc.integer({ min: 1, max: 20 }), (from, years) => {
        const until = addDuration(from, { amount: years, unit: 'y' });
        expect(until.getTime()).toBeGreaterThanOrEqual(from.getTime() + years * 365 * DAY);
        expect(until.getTime() - from.getTime()).toBeLessThanOrEqual(years * 366 * DAY);
      }),
    );
  });
});

/**
 * Floors are compared from every start (retention/duration.ts atLeast). The first of a
 * month and the last day of one are where a span of months is longest and shortest, so
 * checking every one of them over a 400-year cycle (the calendar's period) finds a start
 * where `a` falls short of `b` if there is one.
 */
const CYCLE_STARTS = Array.from({ length: 4800 }, (_, i) => [new Date(Date.UTC(2000, i, 1, 9)), new Date(Date.UTC(2000, i + 1, 0, 9))]).flat();
const shortSomewhere = (a: Duration, b: Duration) => CYCLE_STARTS.some((s) => addDuration(s, a).getTime() < addDuration(s, b).getTime());
const duration = fc.oneof(
  fc.record({ amount: fc.integer({ min: 1, max: 40 }), unit: fc.constantFrom('mo' as const, 'y' as const) }),
  fc.record({ amount: fc.integer({ min: 1, max: 15_000 }), unit: fc.constantFrom('h' as const, 'd' as const, 'w' as const) }),
  fc.record({ amount: fc.integer({ min: 25, max: 1_300 }), unit: fc.constant('d' as const) }),
  fc.record({ amount: fc.integer({ min: 2_550, max: 2_560 }), unit: fc.constant('d' as const) }),
);

describe('floors compared from every start', () => {
  const d = (text: string) => parseDuration(text, 'x');

  it('take a floor in days or weeks for one in months or years only when it is as long from every start', () => {
    // From 2001-01-31 (the comparison before) a month is 28 days and seven years 2,556: from 2025-03-01 and 2026-03-01 they are 31 and 2,557.
    expect(addDuration(new Date('2025-03-01T09:00:00Z'), d('1mo')).getTime() - Date.parse('2025-03-01T09:00:00Z')).toBe(31 * DAY);
    expect(addDuration(new Date('2026-03-01T09:00:00Z'), d('7y')).getTime() - Date.parse('2026-03-01T09:00:00Z')).toBe(2557 * DAY);
    for (const [a, b] of [['28d', '1mo'], ['30d', '1mo'], ['4w', '1mo'], ['2556d', '7y'], ['365d', '1y'], ['52w', '1y'], ['1mo', '30d'], ['7y', '2556d'], ['1y', '366d'], ['8759h', '1y']]) {
      expect([a, b, atLeast(d(a!), d(b!))]).toEqual([a, b, false]);
    }
    // A run of seven years without a 29 February (2100 is not a leap year) is 2,555 days.
    for (const [a, b] of [['31d', '1mo'], ['2557d', '7y'], ['366d', '1y'], ['1mo', '28d'], ['7y', '2555d'], ['84mo', '7y'], ['7y', '84mo'], ['1y', '365d'], ['1w', '168h']]) {
      expect([a, b, atLeast(d(a!), d(b!))]).toEqual([a, b, true]);
    }
    expect(longer(d('30d'), d('1mo'))).toEqual(d('31d'));
    expect(shorter(d('30d'), d('1mo'))).toEqual(d('28d'));
    expect(longer(d('2556d'), d('7y'))).toEqual(d('2557d'));
    // Past what six digits of days hold (2,738 years are about a million days), in whole weeks, rounded outward.
    expect([longer(d('142862w'), d('2738y')), shorter(d('142862w'), d('2738y'))]).toEqual([d('142863w'), d('142861w')]);
    for (const w of ['142863w', '142861w']) expect([atLeast(d(w), d('2738y')), atLeast(d('2738y'), d(w))]).toEqual(w === '142863w' ? [true, false] : [false, true]);
    // A tenant's shorter policy (for new sessions) under a session's floor: the floor, from every start.
    expect(withFloor(parsePolicy({ archiveAfter: '1d', retain: '28d' }), d('1mo')).retain).toEqual(d('1mo'));
    expect(withFloor(parsePolicy({ archiveAfter: '1d', retain: '2555d' }), d('7y')).retain).toEqual(d('7y'));
    // 2,556 days are longer than seven years without a 29 February, shorter than seven with two: the most of both.
    expect(withFloor(parsePolicy({ archiveAfter: '1d', retain: '2556d' }), d('7y')).retain).toEqual(d('2557d'));
    expect(withFloor(parsePolicy({ archiveAfter: '1d', retain: '30d' }), d('1mo')).retain).toEqual(d('31d'));
  });

  it('say `a` is at least `b` exactly when no start makes it shorter', () => {
    fc.assert(
      fc.property(duration, duration, (a, b) => {
        expect([a, b, atLeast(a, b)]).toEqual([a, b, !shortSomewhere(a, b)]);
      }),
      { numRuns: 150 },
    );
  });

  it('give a longer of two that keeps as long as both from every start, and a shorter that keeps no longer than either', () => {
    fc.assert(
      fc.property(duration, duration, fc.date({ min: new Date('1970-01-01'), max: new Date('9000-01-01'), noInvalidDate: true }), (a, b, from) => {
        const [long, short] = [longer(a, b), shorter(a, b)];
        expect(atLeast(long, a) && atLeast(long, b)).toBe(true);
        expect(atLeast(a, short) && atLeast(b, short)).toBe(true);
        const at = (x: Duration) => addDuration(from, x).getTime();
        expect(at(long)).toBeGreaterThanOrEqual(Math.max(at(a), at(b)));
        expect(at(short)).toBeLessThanOrEqual(Math.min(at(a), at(b)));
      }),
      { numRuns: 500 },
    );
  });
});

describe('what retention decides', () => {
  const policy = parsePolicy({ archiveAfter: '30d', retain: '1y' });
  const lastAt = new Date('2026-01-01T00:00:00Z');
  const at = (days: number) => new Date(lastAt.getTime() + days * DAY);

  it('archives idle active sessions and purges archived ones past retention, neither held ones, and restores held archived ones', () => {
    const active = { status: 'active' as const, events: 3, lastAt, held: false };
    expect(decide(active, policy, at(29))).toMatchObject({ action: 'none', why: 'not_due' });
    expect(decide(active, policy, at(30))).toMatchObject({ action: 'archive' });
    expect(decide({ ...active, held: true }, policy, at(30))).toMatchObject({ action: 'none', why: 'held' }); // a held session's events stay in the database (drizzle/0074)
    expect(decide({ ...active, held: true }, policy, at(29))).toMatchObject({ action: 'none', why: 'not_due' });
    expect(decide(active, policy, at(400))).toMatchObject({ action: 'archive' }); // never purged straight from hot
    const archived = { ...active, status: 'archived' as const };
    expect(decide(archived, policy, at(364))).toMatchObject({ action: 'none', why: 'not_due' });
    expect(decide(archived, policy, at(365))).toMatchObject({ action: 'purge' });
    // An archived session held since is brought back to the database, due or not: a held session's events are the database's to keep.
    expect(decide({ ...archived, held: true }, policy, at(9999))).toEqual({ action: 'restore', dueAt: null });
    expect(decide({ ...archived, held: true }, policy, at(31))).toEqual({ action: 'restore', dueAt: null });
    expect(decide({ ...archived, status: 'purged' }, policy, at(9999))).toMatchObject({ action: 'none', why: 'purged' });
    expect(decide({ ...active, events: 0, lastAt: null }, policy, at(9999))).toMatchObject({ action: 'none', why: 'empty' });
    // A last-event time that is no time (`infinity`, stored past the database's checks) is never due: `now < NaN` was false, and it was purged.
    expect(decide({ ...archived, lastAt: new Date(NaN) }, policy, at(9999))).toMatchObject({ action: 'none', why: 'not_due' });
    expect(decide({ ...active, lastAt: new Date(NaN) }, policy, at(9999))).toMatchObject({ action: 'none', why: 'not_due' });
  });

  it('never purges a held or not-yet-due session, whatever the policy and time', () => {
    const unit = fc.constantFrom('h', 'd', 'w', 'mo', 'y');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), unit, fc.integer({ min: 1, max: 100 }), unit, fc.integer({ min: 0, max: 50 * 365 }), fc.boolean(), (a, au, r, ru, days, held) => {
        let p;
        try {
          p = parsePolicy({ archiveAfter: `${a}${au}`, retain: `${r}${ru}` });
        } catch {
          return; // retain shorter than archive-after is refused
        }
        const d = decide({ status: 'archived', events: 1, lastAt, held }, p, at(days));
        if (d.action === 'purge') {
          expect(held).toBe(false);
          expect(at(days).getTime()).toBeGreaterThanOrEqual(addDuration(lastAt, p.retain).getTime());
        }
      }),
    );
  });

  it('refuses a policy that would purge before archiving', () => {
    expect(() => parsePolicy({ archiveAfter: '2y', retain: '1y' })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(DEFAULT_POLICY).toEqual({ archiveAfter: { amount: 30, unit: 'd' }, retain: { amount: 7, unit: 'y' } });
  });
});

describe('the archive object', () => {
  function session(n: number): StoredEvent[] {
    const dataKey = generateKey();
    const out: StoredEvent[] = [];
    let prev = GENESIS_HASH;
    for (let i = 1; i <= n; i++) {
      const row = sealEvent({ type: 'message', role: 'user', content: `m${i}` }, { tenant: 't', session: 's', seq: i, at: new Date(1_700_000_000_000 + i), correlationId: 'c', prevHash: prev, dataKey });
      out.push(row);
      prev = row.hash;
    }
    return out;
  }
  let events: StoredEvent[];
  let encoded: Awaited<ReturnType<typeof encodeArchive>>;
  let expect5: Parameters<typeof decodeArchive>[1];
  beforeAll(async () => {
    events = session(5);
    encoded = await encodeArchive({ tenant: 't', session: 's', agent: 'teller', events, checkpoints: ['note one\n', 'note two\n'] });
    expect5 = { tenant: 't', session: 's', headSeq: 5, headHash: events[4]!.hash, digest: encoded.digest };
  });

  it('round-trips events exactly as stored, with checkpoints and a manifest', async () => {
    const back = await decodeArchive(encoded.bytes, expect5);
    expect(back.events).toEqual(events);
    expect(back.checkpoints).toEqual(['note one\n', 'note two\n']);
    expect(back.manifest).toMatchObject({ format: 'session-vault-archive/v1', events: 5, firstSeq: 1, lastSeq: 5, checkpoints: 2, agent: 'teller' });
    expect(Buffer.from(encoded.digest).toString('hex')).toBe(createHash('sha256').update(encoded.bytes).digest('hex'));
    // Deterministic: the same session encodes to the same bytes (a rerun rewrites the same object).
    expect((await encodeArchive({ tenant: 't', session: 's', agent: 'teller', events, checkpoints: ['note one\n', 'note two\n'] })).bytes).toEqual(encoded.bytes);
    // Compressed on the thread pool, the bytes are those of a one-shot gzip at level 1 (what objects written before were).
    expect(new Uint8Array(gzipSync(gunzipSync(encoded.bytes), { level: 1 }))).toEqual(encoded.bytes);
  });

  it('refuses any changed byte, and a re-compressed edit whose digest was updated too', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: encoded.bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), async (i, x) => {
        const bad = new Uint8Array(encoded.bytes);
        bad[i]! ^= x;
        await expect(decodeArchive(bad, expect5)).rejects.toMatchObject({ code: 'ARCHIVE_CORRUPT' });
      }),
      { numRuns: 200 },
    );
    // An insider who edits an event, recompresses, and records the new digest still fails on the chain.
    const lines = gunzipSync(encoded.bytes).toString('utf8').split('\n');
    const e = JSON.parse(lines[2]!);
    e.correlationId = 'forged';
    lines[2] = JSON.stringify(e);
    const body = lines.slice(1).join('\n');
    const manifest = { ...JSON.parse(lines[0]!), contentDigest: createHash('sha256').update(body).digest('hex') };
    const forged = new Uint8Array(gzipSync(`${JSON.stringify(manifest)}\n${body}`));
    const digest = new Uint8Array(createHash('sha256').update(forged).digest());
    await expect(decodeArchive(forged, { ...expect5, digest })).rejects.toThrow(/chain is broken at seq 2/);
    // Recompressed into something that is not gzip, with its digest recorded: refused as such.
    const notGzip = new Uint8Array(Buffer.from('plain text'));
    await expect(decodeArchive(notGzip, { ...expect5, digest: new Uint8Array(createHash('sha256').update(notGzip).digest()) })).rejects.toThrow(/does not decompress/);
  });

  it('refuses an object of another session or another head', async () => {
    await expect(decodeArchive(encoded.bytes, { ...expect5, session: 'other' })).rejects.toThrow(/another session/);
    await expect(decodeArchive(encoded.bytes, { ...expect5, headSeq: 4, headHash: events[3]!.hash })).rejects.toThrow(/head differs/);
  });
});
