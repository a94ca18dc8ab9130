import fc from 'fast-check';
import { gzipSync, gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { ensureSodium, generateKey } from '../../src/crypto';
import { GENESIS_HASH, sealEvent } from '../../src/events';
import type { StoredEvent } from '../../src/domain';
import { addDuration, decide, decodeArchive, encodeArchive, parseDuration, parsePolicy, DEFAULT_POLICY } from '../../src/retention';

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

describe('what retention decides', () => {
  const policy = parsePolicy({ archiveAfter: '30d', retain: '1y' });
  const lastAt = new Date('2026-01-01T00:00:00Z');
  const at = (days: number) => new Date(lastAt.getTime() + days * DAY);

  it('archives idle active sessions and purges archived ones past retention, never held ones', () => {
    const active = { status: 'active' as const, events: 3, lastAt, held: false };
    expect(decide(active, policy, at(29))).toMatchObject({ action: 'none', why: 'not_due' });
    expect(decide(active, policy, at(30))).toMatchObject({ action: 'archive' });
    expect(decide({ ...active, held: true }, policy, at(30))).toMatchObject({ action: 'archive' }); // archiving preserves
    expect(decide(active, policy, at(400))).toMatchObject({ action: 'archive' }); // never purged straight from hot
    const archived = { ...active, status: 'archived' as const };
    expect(decide(archived, policy, at(364))).toMatchObject({ action: 'none', why: 'not_due' });
    expect(decide(archived, policy, at(365))).toMatchObject({ action: 'purge' });
    expect(decide({ ...archived, held: true }, policy, at(9999))).toMatchObject({ action: 'none', why: 'held' });
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
