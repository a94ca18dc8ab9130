import fc from 'fast-check';
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ensureSodium, generateKey } from '../../src/crypto';
import { GENESIS_HASH, sealEvent } from '../../src/events';
import type { StoredEvent } from '../../src/domain';
import { ArchiveTextReader, archiveEventParts, decodeArchive, encodeArchive, verifyArchive, type ArchiveExpectation } from '../../src/retention/archive-format';

/**
 * The archive object is written and read a piece at a time (its text is never held
 * whole: a 10,000-event session's is about 14 MB). What must not change with that: the
 * object's bytes (those of a one-shot gzip of the whole text, as every object written
 * before), what a read gives back, and which check a bad object is named by.
 */
beforeAll(ensureSodium);

const dataKey = generateKey();
function session(contents: readonly string[]): StoredEvent[] {
  const out: StoredEvent[] = [];
  let prev = GENESIS_HASH;
  contents.forEach((content, i) => {
    const row = sealEvent({ type: 'message', role: 'user', content }, { tenant: 't', session: 's', seq: i + 1, at: new Date(1_700_000_000_000 + i), correlationId: 'c', prevHash: prev, dataKey });
    out.push(row);
    prev = row.hash;
  });
  return out;
}

const sha256 = (b: Uint8Array | string) => new Uint8Array(createHash('sha256').update(b).digest());
const expectOf = (events: StoredEvent[], bytes: Uint8Array): ArchiveExpectation => ({ tenant: 't', session: 's', headSeq: events.length, headHash: events[events.length - 1]!.hash, digest: sha256(bytes) });

/** An object whose text was edited, recompressed, and its digest recorded (an insider who can write the store and the record). */
function edited(bytes: Uint8Array, edit: (lines: string[]) => string[], contentDigest: 'kept' | 'updated'): Uint8Array {
  const lines = gunzipSync(bytes).toString('utf8').split('\n');
  const out = edit(lines.slice(1));
  const body = out.join('\n');
  const manifest = JSON.parse(lines[0]!);
  if (contentDigest === 'updated') manifest.contentDigest = createHash('sha256').update(body).digest('hex');
  return new Uint8Array(gzipSync(`${JSON.stringify(manifest)}\n${body}`));
}

describe('the archive object, written and read a piece at a time', () => {
  it('is the one-shot gzip of its whole text, and reads back as written, for any session', async () => {
    const text = (minLength: number) => fc.string({ minLength, maxLength: 3000, unit: fc.constantFrom('a', 'é', '€', '😀', '\n', '"', '\\', ' ') });
    await fc.assert(
      fc.asyncProperty(fc.array(text(0), { minLength: 1, maxLength: 120 }), fc.array(text(1), { maxLength: 4 }), fc.option(fc.string({ minLength: 1, maxLength: 20 })), async (contents, notes, agent) => {
        const events = session(contents);
        const encoded = await encodeArchive({ tenant: 't', session: 's', agent, events, checkpoints: notes });
        const whole = gunzipSync(encoded.bytes).toString('utf8');
        const nl = whole.indexOf('\n');
        const body = whole.slice(nl + 1);
        expect(JSON.parse(whole.slice(0, nl))).toEqual(encoded.manifest);
        expect(encoded.manifest.contentDigest).toBe(createHash('sha256').update(body).digest('hex'));
        expect(body.split('\n')).toHaveLength(events.length + notes.length);
        expect(new Uint8Array(gzipSync(whole, { level: 1 }))).toEqual(encoded.bytes);
        const back = await decodeArchive(encoded.bytes, expectOf(events, encoded.bytes));
        expect(back.events).toEqual(events);
        expect(back.checkpoints).toEqual(notes);
        expect(back.agent).toBe(agent);
        await expect(verifyArchive(encoded.bytes, expectOf(events, encoded.bytes))).resolves.toBeUndefined();
      }),
      { numRuns: 30 },
    );
  });

  it('a long session (many pieces, characters split between pieces) is the same object and reads back whole', async () => {
    const events = session(Array.from({ length: 3000 }, (_, i) => `${i} ${'€'.repeat(i % 7)}${'x'.repeat(900)}`));
    // A note of 300 KB is one line longer than the compressor's input buffer (256 KB): its piece is that line.
    const notes = ['€'.repeat(50_000), '😀'.repeat(30_000), '€'.repeat(100_000)];
    const encoded = await encodeArchive({ tenant: 't', session: 's', agent: null, events, checkpoints: notes });
    expect(gunzipSync(encoded.bytes).length).toBeGreaterThan(3_000_000);
    expect(new Uint8Array(gzipSync(gunzipSync(encoded.bytes), { level: 1 }))).toEqual(encoded.bytes);
    const back = await decodeArchive(encoded.bytes, expectOf(events, encoded.bytes));
    expect(back.events).toEqual(events);
    expect(back.checkpoints).toEqual(notes);
  });

  it('reads the same text the same way however it is split into chunks', async () => {
    const events = session(['first', 'deuxième €', 'third 😀']);
    const encoded = await encodeArchive({ tenant: 't', session: 's', agent: 'a', events, checkpoints: ['note €', 'note 😀'] });
    const text = gunzipSync(encoded.bytes);
    const expect3 = expectOf(events, encoded.bytes);
    const read = (chunks: Buffer[]) => {
      const reader = new ArchiveTextReader(expect3, true);
      for (const c of chunks) reader.push(c);
      return reader.finish();
    };
    const whole = read([text]);
    expect(whole.events).toEqual(events);
    await fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 40 }), (cuts) => {
        const at = [0, ...cuts.sort((a, b) => a - b), text.length];
        const chunks = at.slice(1).map((end, i) => text.subarray(at[i], end));
        expect(read(chunks)).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the events in parts as it reads them, and fails a bad object before its last part', async () => {
    const events = session(Array.from({ length: 1234 }, (_, i) => `turn ${i} ${'y'.repeat(i % 300)}`));
    const encoded = await encodeArchive({ tenant: 't', session: 's', agent: null, events, checkpoints: ['n'] });
    const parts: StoredEvent[][] = [];
    for await (const part of archiveEventParts(encoded.bytes, expectOf(events, encoded.bytes), 100)) parts.push(part);
    expect(parts.map((p) => p.length)).toEqual([...Array(12).fill(100), 34]);
    expect(parts.flat()).toEqual(events);
    // Its content digest changed (known only once read through): the parts before the last come, the last does not.
    const bad = edited(encoded.bytes, (ls) => ls.map((l, i) => (i === 1233 ? l.replace('"correlationId":"c"', '"correlationId":"x"') : l)), 'kept');
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const part of archiveEventParts(bad, expectOf(events, bad), 100)) seen.push(part[part.length - 1]!.seq);
      })(),
    ).rejects.toThrow(/content digest does not match/);
    expect(seen).not.toContain(1234);
  });

  it('names a bad object by the check it always failed first', async () => {
    const events = session(['a', 'b', 'c']);
    const encoded = await encodeArchive({ tenant: 't', session: 's', agent: null, events, checkpoints: ['n1', 'n2'] });
    const check = (bytes: Uint8Array, e: Partial<ArchiveExpectation> = {}) => decodeArchive(bytes, { ...expectOf(events, bytes), ...e });
    const swapTenant = (l: string) => l.replace('"correlationId":"c"', '"correlationId":"forged"');
    // An event changed, the content digest left: named by the content digest, not by the line read before it.
    await expect(check(edited(encoded.bytes, (ls) => ls.map((l, i) => (i === 1 ? swapTenant(l) : l)), 'kept'))).rejects.toThrow(/content digest does not match/);
    await expect(check(edited(encoded.bytes, (ls) => ls.map((l, i) => (i === 0 ? '{not json' : l)), 'kept'))).rejects.toThrow(/content digest does not match/);
    // With the digest updated: the line count first, then the first bad line, in the file's order.
    await expect(check(edited(encoded.bytes, (ls) => [...ls, ''], 'updated'))).rejects.toThrow(/line count differs/);
    await expect(check(edited(encoded.bytes, (ls) => ls.slice(1), 'updated'))).rejects.toThrow(/line count differs/);
    await expect(check(edited(encoded.bytes, (ls) => ls.map((l, i) => (i === 0 ? '{not json' : i === 2 ? swapTenant(l) : l)), 'updated'))).rejects.toThrow(/an event line is malformed/);
    await expect(check(edited(encoded.bytes, (ls) => ls.map((l, i) => (i === 1 ? swapTenant(l) : i === 3 ? '{}' : l)), 'updated'))).rejects.toThrow(/chain is broken at seq 2/);
    await expect(check(edited(encoded.bytes, (ls) => ls.map((l, i) => (i === 4 ? '{"checkpoint":""}' : l)), 'updated'))).rejects.toThrow(/a checkpoint line is malformed/);
    // Another session or head before any line; a manifest alone, with no newline, is read as one.
    await expect(check(encoded.bytes, { session: 'other' })).rejects.toThrow(/another session/);
    const manifestOnly = new Uint8Array(gzipSync(gunzipSync(encoded.bytes).toString('utf8').split('\n')[0]!));
    await expect(check(manifestOnly)).rejects.toThrow(/content digest does not match/);
    await expect(check(new Uint8Array(gzipSync('{"format":"nope"}')))).rejects.toThrow(/manifest is malformed/);
  });

  it('stops reading a text longer than it takes (a decompression bomb), and a stream that is not gzip', async () => {
    const bomb = new Uint8Array(gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x61)));
    const expectBomb = { tenant: 't', session: 's', headSeq: 1, headHash: new Uint8Array(32), digest: sha256(bomb) };
    await expect(decodeArchive(bomb, { ...expectBomb, maxBytes: 1024 * 1024 })).rejects.toThrow(/does not decompress/);
    // Within the limit the same bytes are read through, and named by what they are.
    await expect(decodeArchive(bomb, expectBomb)).rejects.toThrow(/manifest is malformed/);
    const cut = bomb.subarray(0, bomb.length - 9);
    await expect(decodeArchive(cut, { ...expectBomb, digest: sha256(cut) })).rejects.toThrow(/does not decompress/);
    // An object of more than 256 KB is decompressed as a stream: the same limit, the same refusals.
    const noise = new Uint8Array(gzipSync(randomBytes(400_000)));
    expect(noise.length).toBeGreaterThan(256 * 1024);
    const expectNoise = { ...expectBomb, digest: sha256(noise) };
    await expect(decodeArchive(noise, { ...expectNoise, maxBytes: 100_000 })).rejects.toThrow(/does not decompress/);
    await expect(decodeArchive(noise, expectNoise)).rejects.toThrow(/manifest is malformed/);
    const cutNoise = noise.subarray(0, noise.length - 9);
    await expect(decodeArchive(cutNoise, { ...expectNoise, digest: sha256(cutNoise) })).rejects.toThrow(/does not decompress/);
  });
});
