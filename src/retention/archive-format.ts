import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { createGunzip, createGzip, gunzip, gzip, type Gunzip, type ZlibOptions } from 'node:zlib';
import { z } from 'zod';
import type { StoredEvent } from '../domain';
import { IntegrityError } from '../errors';
import { bytesEqual, fromHex, toHex } from '../crypto';
import { ChainVerifier } from '../events';
import { bundleEvent, fromBundleEvent, toBundleEvent } from '../audit';

/**
 * The archive object of one session (docs/retention.md): gzip of UTF-8 NDJSON.
 *   line 1      the manifest: format, tenant, session, agent, counts, first/last seq,
 *               head hash, first/last time, and contentDigest (SHA-256 of lines 2..n);
 *   then        one line per event, exactly as stored (still sealed, with its hash), in
 *               the auditor bundle's event encoding (docs/export-format.md);
 *   then        one line per signed checkpoint: {"checkpoint": note}.
 * The object's digest (SHA-256 of the compressed bytes, what `sha256sum` prints) is kept
 * in the database's archive record and in the tombstone. No I/O here; (de)compression
 * runs on libuv's thread pool (so these are async), so a process serving requests goes on
 * answering while a long session's archive is written or read.
 */
export const ARCHIVE_FORMAT = 'session-vault-archive/v1';

/** Largest archive the reader will decompress (a guard against decompression bombs). */
export const MAX_ARCHIVE_BYTES = 2 * 1024 * 1024 * 1024 - 1;

const hex32 = z.string().regex(/^[0-9a-f]{64}$/);
const manifestSchema = z.strictObject({
  format: z.literal(ARCHIVE_FORMAT),
  tenant: z.string().min(1),
  session: z.string().min(1),
  agent: z.string().nullable(),
  events: z.number().int().positive(),
  firstSeq: z.literal(1),
  lastSeq: z.number().int().positive(),
  head: hex32,
  firstAt: z.iso.datetime(),
  lastAt: z.iso.datetime(),
  checkpoints: z.number().int().nonnegative(),
  contentDigest: hex32,
});
const checkpointLine = z.strictObject({ checkpoint: z.string().min(1) });

export type ArchiveManifest = z.infer<typeof manifestSchema>;

export interface ArchiveContent {
  tenant: string;
  session: string;
  agent: string | null;
  /** Every event of the session, seq 1..n, as stored. */
  events: readonly StoredEvent[];
  /** Signed checkpoint notes. */
  checkpoints: readonly string[];
}

/** An encoded archive object. */
export interface ArchiveObject {
  bytes: Uint8Array;
  /** SHA-256 of `bytes`. */
  digest: Uint8Array;
  manifest: ArchiveManifest;
}

// Level 1: the body is mostly base64 of ciphertext, which no level compresses past base64's
// 6 bits a character, and level 6 took about 3.5× the time for the same size.
const GZIP: ZlibOptions = { level: 1 };

/** What goes to the compressor at a time: the body's lines gathered to about this many characters. */
const PIECE_CHARS = 64 * 1024;

/**
 * A text up to this many characters (an object up to this many bytes, read) is compressed
 * (decompressed) in one call: a stream costs more than the memory it saves on the small
 * sessions a retention run archives by the thousand (encoding and verifying a three-event
 * session, by turns: 0.7–0.85 ms in one call, 1.1–1.2 ms through streams). The bytes are
 * the same.
 */
const ONE_CALL_CHARS = 1024 * 1024;
const ONE_CALL_BYTES = 256 * 1024;
const gzipAsync = promisify(gzip) as (b: Buffer, o: ZlibOptions) => Promise<Buffer>;
const gunzipAsync = promisify(gunzip) as (b: Uint8Array, o: ZlibOptions) => Promise<Buffer>;

/**
 * Encodes a session for the archive. The session must have at least one event.
 *
 * The text is never held whole: the manifest, which comes first, names the body's digest,
 * so the body's lines are made twice, once to hash and once to compress, a piece at a time
 * (a 10,000-event session's text is about 14 MB, and it was held as a string, as bytes and
 * again with the manifest before it). Deflate's output depends on the bytes alone, not on
 * how they arrive: the object is the one-shot gzip of the text, byte for byte.
 */
export async function encodeArchive(c: ArchiveContent): Promise<ArchiveObject> {
  const first = c.events[0];
  const last = c.events[c.events.length - 1];
  if (!first || !last) throw new IntegrityError('ARCHIVE_CORRUPT', 'an empty session has nothing to archive');
  const content = createHash('sha256');
  let chars = 0;
  for (const piece of bodyPieces(c)) {
    content.update(piece, 'utf8');
    chars += piece.length;
  }
  const manifest: ArchiveManifest = {
    format: ARCHIVE_FORMAT,
    tenant: c.tenant,
    session: c.session,
    agent: c.agent,
    events: c.events.length,
    firstSeq: 1,
    lastSeq: last.seq,
    head: toHex(last.hash),
    firstAt: first.at.toISOString(),
    lastAt: last.at.toISOString(),
    checkpoints: c.checkpoints.length,
    contentDigest: content.digest('hex'),
  };
  const head = `${JSON.stringify(manifest)}\n`;
  const bytes = chars <= ONE_CALL_CHARS ? viewOf(await gzipAsync(Buffer.from(head + [...bodyPieces(c)].join(''), 'utf8'), GZIP)) : await gzipPieces([head, ...bodyPieces(c)]);
  return { bytes, digest: sha256(bytes), manifest };
}

/** The body (every event's line, then every checkpoint's, joined by newlines) in pieces of about PIECE_CHARS. */
function* bodyPieces(c: ArchiveContent): Generator<string> {
  let piece = '';
  let any = false;
  const lines = function* () {
    for (const e of c.events) yield JSON.stringify(toBundleEvent(e));
    for (const n of c.checkpoints) yield JSON.stringify({ checkpoint: n });
  };
  for (const line of lines()) {
    piece += any ? `\n${line}` : line;
    any = true;
    if (piece.length >= PIECE_CHARS) {
      yield piece;
      piece = '';
    }
  }
  if (piece.length > 0) yield piece;
}

/**
 * Gzip of the pieces' UTF-8, compressed on libuv's thread pool as they come. Each piece
 * is written into one buffer, reused once the compressor has taken the piece before it (a
 * string written to the stream would be a new buffer each time, garbage until the next
 * collection: megabytes of it for a long session).
 */
async function gzipPieces(pieces: Iterable<string>): Promise<Uint8Array> {
  const gz = createGzip(GZIP);
  const out: Buffer[] = [];
  gz.on('data', (chunk: Buffer) => out.push(chunk));
  const done = once(gz, 'end');
  let input = Buffer.allocUnsafe(4 * PIECE_CHARS);
  for (const piece of pieces) {
    const size = Buffer.byteLength(piece, 'utf8');
    if (size > input.length) input = Buffer.allocUnsafe(size); // a line longer than a piece: its piece is that line
    input.write(piece, 0, 'utf8');
    await new Promise<void>((resolve, reject) => gz.write(input.subarray(0, size), (e) => (e ? reject(e) : resolve())));
  }
  gz.end();
  await done;
  return viewOf(Buffer.concat(out));
}

/** The buffer's bytes as a Uint8Array where they are (a copy would be the object again). */
function viewOf(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** What the reader expects of an object: whose it is, its head, and its digest from the database. */
export interface ArchiveExpectation {
  tenant: string;
  session: string;
  headSeq: number;
  headHash: Uint8Array;
  digest: Uint8Array;
  /** The most text it decompresses (MAX_ARCHIVE_BYTES unless told). */
  maxBytes?: number;
}

/**
 * Decodes and verifies an archive object against what the database recorded: the digest,
 * the manifest, the content digest, every event's chain hash from genesis to the recorded
 * head. ARCHIVE_CORRUPT (naming the first failed check) if anything disagrees.
 */
export async function decodeArchive(bytes: Uint8Array, expect: ArchiveExpectation): Promise<ArchiveContent & { manifest: ArchiveManifest }> {
  return readObject(bytes, expect, true);
}

/**
 * The same checks as decodeArchive, keeping no event: what the archive runs on the object
 * it has just written, before anything leaves Postgres (the events are in its hands
 * already, so a second copy of them would only cost memory).
 */
export async function verifyArchive(bytes: Uint8Array, expect: ArchiveExpectation): Promise<void> {
  await readObject(bytes, expect, false);
}

/**
 * The events of an object, in parts of `size` (seq order), read as the object is
 * decompressed: a caller that writes each part where it goes (a restore) never holds the
 * session's events at once. Every check of decodeArchive is made, the last of them before
 * the last part is given: a caller that needs the whole session (a restore, whose head must
 * be back at commit) does not finish on an object that fails one. The caller verifies the
 * object first (verifyArchive) so that a bad one changes nothing.
 */
export async function* archiveEventParts(bytes: Uint8Array, expect: ArchiveExpectation, size: number): AsyncGenerator<StoredEvent[]> {
  const reader = new ArchiveTextReader(expect, true);
  for await (const _ of decompressInto(bytes, expect, reader)) {
    while (reader.held >= size) yield reader.take(size);
  }
  const rest = reader.finish().events;
  for (let i = 0; i < rest.length; i += size) yield rest.slice(i, i + size);
}

function failing(expect: ArchiveExpectation): (what: string) => never {
  return (what) => {
    throw new IntegrityError('ARCHIVE_CORRUPT', `archive of ${expect.tenant}/${expect.session}: ${what}`);
  };
}

/**
 * The object decompressed a chunk at a time and read a line at a time as it comes: the
 * text is never held, only the line being read (and, with `keep`, the events decoded).
 */
async function readObject(bytes: Uint8Array, expect: ArchiveExpectation, keep: boolean): Promise<ArchiveContent & { manifest: ArchiveManifest }> {
  const reader = new ArchiveTextReader(expect, keep);
  for await (const _ of decompressInto(bytes, expect, reader)) {
    // each chunk is read as it comes
  }
  return reader.finish();
}

/**
 * Feeds the decompressed object to `reader` a chunk at a time, turning after each:
 * ARCHIVE_CORRUPT where its digest differs, it does not decompress, or it decompresses
 * past the limit (a decompression bomb: it stops reading).
 */
async function* decompressInto(bytes: Uint8Array, expect: ArchiveExpectation, reader: ArchiveTextReader): AsyncGenerator<void> {
  const fail = failing(expect);
  if (!bytesEqual(sha256(bytes), expect.digest)) fail('its digest differs from the one recorded when it was archived');
  const limit = expect.maxBytes ?? MAX_ARCHIVE_BYTES;
  if (bytes.length <= ONE_CALL_BYTES) {
    reader.push(await gunzipAsync(bytes, { maxOutputLength: limit }).catch(() => fail('it does not decompress')));
    yield;
    return;
  }
  const gunzip = createGunzip();
  let size = 0;
  try {
    for await (const chunk of gunzipChunks(gunzip, bytes)) {
      size += chunk.length;
      if (size > limit) fail('it does not decompress');
      reader.push(chunk);
      yield;
    }
  } catch (e) {
    if (e instanceof IntegrityError) throw e;
    fail('it does not decompress');
  } finally {
    gunzip.destroy();
  }
}

/** The decompressed chunks of `bytes`, as the gunzip stream gives them. */
async function* gunzipChunks(gunzip: Gunzip, bytes: Uint8Array): AsyncGenerator<Buffer> {
  gunzip.end(bytes);
  for await (const chunk of gunzip) yield chunk as Buffer;
}

const NEWLINE = 0x0a;

/**
 * The checks after decompression, fed the text a chunk at a time: manifest, content
 * digest, owner, head, lines, chain, checkpoints. A line is split at every newline as
 * `String.split('\n')` would (an empty body has none), decoded only once whole, so a
 * character split between chunks is read as one. The first failure of each kind is kept
 * and reported in the order the checks were always made, the content digest first, once
 * the whole text is read: an object whose lines were changed is named by its digest.
 */
export class ArchiveTextReader {
  readonly #expect: ArchiveExpectation;
  readonly #keep: boolean;
  readonly #content = createHash('sha256');
  readonly #chain: ChainVerifier;
  readonly #events: StoredEvent[] = [];
  readonly #checkpoints: string[] = [];
  #manifest: ArchiveManifest | null | undefined; // undefined: its line not read yet; null: malformed
  #pending: Buffer[] = []; // the current line's bytes so far
  #lines = 0; // body lines read
  #bodyBytes = 0;
  #lineFailure: string | null = null;
  #chainChecked = false;

  constructor(expect: ArchiveExpectation, keep: boolean) {
    this.#expect = expect;
    this.#keep = keep;
    this.#chain = new ChainVerifier(expect.tenant, expect.session);
  }

  push(chunk: Buffer): void {
    let start = 0;
    if (this.#manifest !== undefined) this.#hashBody(chunk);
    for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
      this.#pending.push(chunk.subarray(start, nl));
      const line = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
      this.#pending = [];
      start = nl + 1;
      if (this.#manifest === undefined) {
        this.#readManifest(line);
        this.#hashBody(chunk.subarray(start));
      } else {
        this.#readLine(line);
      }
    }
    if (start < chunk.length) this.#pending.push(chunk.subarray(start));
  }

  /** Events decoded and not yet taken (with `keep`). */
  get held(): number {
    return this.#events.length;
  }

  /** The first `n` events decoded, no longer held. */
  take(n: number): StoredEvent[] {
    return this.#events.splice(0, n);
  }

  finish(): ArchiveContent & { manifest: ArchiveManifest } {
    const fail = failing(this.#expect);
    if (this.#manifest === undefined) this.#readManifest(Buffer.concat(this.#pending)); // no newline: a manifest alone
    else if (this.#bodyBytes > 0) this.#readLine(Buffer.concat(this.#pending)); // the last line (split semantics: after the last newline)
    const manifest = this.#manifest;
    if (!manifest) return fail('its manifest is malformed');
    if (this.#content.digest('hex') !== manifest.contentDigest) fail('its content digest does not match its manifest');
    const expect = this.#expect;
    if (manifest.tenant !== expect.tenant || manifest.session !== expect.session) fail('it belongs to another session');
    if (manifest.lastSeq !== expect.headSeq || manifest.events !== expect.headSeq || manifest.head !== toHex(expect.headHash)) {
      fail('its head differs from the session head');
    }
    if (this.#lines !== manifest.events + manifest.checkpoints) fail('its line count differs from its manifest');
    this.#checkChain();
    if (this.#lineFailure) fail(this.#lineFailure);
    if (!bytesEqual(fromHex(manifest.head), expect.headHash)) fail('its head differs from the session head');
    return { tenant: expect.tenant, session: expect.session, agent: manifest.agent, events: this.#events, checkpoints: this.#checkpoints, manifest };
  }

  #hashBody(bytes: Buffer): void {
    this.#content.update(bytes);
    this.#bodyBytes += bytes.length;
  }

  #readManifest(line: Buffer): void {
    const parsed = manifestSchema.safeParse(parseJson(line.toString('utf8')));
    this.#manifest = parsed.success ? parsed.data : null;
  }

  /** One body line: an event while the manifest's count of events lasts, then a checkpoint. */
  #readLine(line: Buffer): void {
    const i = this.#lines++;
    const manifest = this.#manifest;
    if (!manifest || this.#lineFailure) return; // reported as it is; the rest is only hashed and counted
    if (i < manifest.events) {
      const e = bundleEvent.safeParse(parseJson(line.toString('utf8')));
      if (!e.success) {
        this.#lineFailure = 'an event line is malformed';
        return;
      }
      const stored = fromBundleEvent(this.#expect.tenant, this.#expect.session, e.data);
      this.#chain.push(stored);
      if (this.#keep) this.#events.push(stored);
      return;
    }
    this.#checkChain();
    if (this.#lineFailure) return;
    const c = checkpointLine.safeParse(parseJson(line.toString('utf8')));
    if (!c.success) this.#lineFailure = 'a checkpoint line is malformed';
    else this.#checkpoints.push(c.data.checkpoint);
  }

  /** Once, after the events: the chain from genesis to the recorded head. */
  #checkChain(): void {
    if (this.#chainChecked || this.#lineFailure) return;
    this.#chainChecked = true;
    const problems = this.#chain.finish({ seq: this.#expect.headSeq, hash: this.#expect.headHash });
    if (problems.length > 0) this.#lineFailure = `its chain is broken at seq ${problems[0]!.seq} (${problems[0]!.kind})`;
  }
}

/** The object name of a session's archive at a head: `<tenant>/<session>/<headSeq>.svarc.gz`. */
export function archiveObjectName(tenant: string, session: string, headSeq: number): string {
  return `${tenant}/${session}/${headSeq}.svarc.gz`;
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** An archive object's digest, as recorded when it was archived: SHA-256 of its bytes. */
export function objectDigest(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}
const sha256 = objectDigest;
