import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip, type ZlibOptions } from 'node:zlib';
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
const gzipAsync = promisify(gzip) as (b: Buffer, o: ZlibOptions) => Promise<Buffer>;
const gunzipAsync = promisify(gunzip) as (b: Uint8Array, o: ZlibOptions) => Promise<Buffer>;

/** Encodes a session for the archive. The session must have at least one event. */
export async function encodeArchive(c: ArchiveContent): Promise<ArchiveObject> {
  const { text, manifest } = archiveText(c);
  const bytes = new Uint8Array(await gzipAsync(text, GZIP));
  return { bytes, digest: sha256(bytes), manifest };
}

/** The object's text before compression: the manifest line, then the body. */
function archiveText(c: ArchiveContent): { text: Buffer; manifest: ArchiveManifest } {
  const first = c.events[0];
  const last = c.events[c.events.length - 1];
  if (!first || !last) throw new IntegrityError('ARCHIVE_CORRUPT', 'an empty session has nothing to archive');
  // The body once as bytes, hashed and compressed as they are (not again as a string with the manifest before it).
  const body = Buffer.from([...c.events.map((e) => JSON.stringify(toBundleEvent(e))), ...c.checkpoints.map((n) => JSON.stringify({ checkpoint: n }))].join('\n'), 'utf8');
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
    contentDigest: sha256Hex(body),
  };
  return { text: Buffer.concat([Buffer.from(`${JSON.stringify(manifest)}\n`, 'utf8'), body]), manifest };
}

/** What the reader expects of an object: whose it is, its head, and its digest from the database. */
export interface ArchiveExpectation {
  tenant: string;
  session: string;
  headSeq: number;
  headHash: Uint8Array;
  digest: Uint8Array;
}

/**
 * Decodes and verifies an archive object against what the database recorded: the digest,
 * the manifest, the content digest, every event's chain hash from genesis to the recorded
 * head. ARCHIVE_CORRUPT (naming the first failed check) if anything disagrees.
 */
export async function decodeArchive(bytes: Uint8Array, expect: ArchiveExpectation): Promise<ArchiveContent & { manifest: ArchiveManifest }> {
  const fail = failing(expect);
  if (!bytesEqual(sha256(bytes), expect.digest)) fail('its digest differs from the one recorded when it was archived');
  const raw = await gunzipAsync(bytes, { maxOutputLength: MAX_ARCHIVE_BYTES }).catch(() => fail('it does not decompress'));
  return decodeLines(raw, expect, true);
}

/**
 * The same checks as decodeArchive, keeping no event: what the archive runs on the object
 * it has just written, before anything leaves Postgres (the events are in its hands
 * already, so a second copy of them would only cost memory).
 */
export async function verifyArchive(bytes: Uint8Array, expect: ArchiveExpectation): Promise<void> {
  const fail = failing(expect);
  if (!bytesEqual(sha256(bytes), expect.digest)) fail('its digest differs from the one recorded when it was archived');
  const raw = await gunzipAsync(bytes, { maxOutputLength: MAX_ARCHIVE_BYTES }).catch(() => fail('it does not decompress'));
  decodeLines(raw, expect, false);
}

function failing(expect: ArchiveExpectation): (what: string) => never {
  return (what) => {
    throw new IntegrityError('ARCHIVE_CORRUPT', `archive of ${expect.tenant}/${expect.session}: ${what}`);
  };
}

/**
 * The checks after decompression: manifest, content digest, owner, head, lines, chain,
 * checkpoints. Reads the decompressed bytes a line at a time (never the whole text as one
 * string, nor split into an array of lines), so that a long session's archive is held
 * once, as bytes, beside the events decoded from it (`keep`; none, to verify only).
 */
function decodeLines(raw: Buffer, expect: ArchiveExpectation, keep: boolean): ArchiveContent & { manifest: ArchiveManifest } {
  const fail = failing(expect);
  const nl = raw.indexOf(NEWLINE);
  const parsed = manifestSchema.safeParse(parseJson(raw.toString('utf8', 0, nl < 0 ? raw.length : nl)));
  if (!parsed.success) return fail('its manifest is malformed');
  const manifest = parsed.data;
  const body = raw.subarray(nl < 0 ? raw.length : nl + 1);
  if (sha256Hex(body) !== manifest.contentDigest) fail('its content digest does not match its manifest');
  if (manifest.tenant !== expect.tenant || manifest.session !== expect.session) fail('it belongs to another session');
  if (manifest.lastSeq !== expect.headSeq || manifest.events !== expect.headSeq || manifest.head !== toHex(expect.headHash)) {
    fail('its head differs from the session head');
  }
  const lines = lineRanges(body);
  if (lines.length !== manifest.events + manifest.checkpoints) fail('its line count differs from its manifest');
  const line = (i: number) => parseJson(body.toString('utf8', lines[i]![0], lines[i]![1]));
  const chain = new ChainVerifier(expect.tenant, expect.session);
  const events: StoredEvent[] = [];
  for (let i = 0; i < manifest.events; i++) {
    const e = bundleEvent.safeParse(line(i));
    if (!e.success) fail('an event line is malformed');
    const stored = fromBundleEvent(expect.tenant, expect.session, e.data!);
    chain.push(stored);
    if (keep) events.push(stored);
  }
  const problems = chain.finish({ seq: expect.headSeq, hash: expect.headHash });
  if (problems.length > 0) fail(`its chain is broken at seq ${problems[0]!.seq} (${problems[0]!.kind})`);
  const checkpoints: string[] = [];
  for (let i = manifest.events; i < lines.length; i++) {
    const c = checkpointLine.safeParse(line(i));
    if (!c.success) fail('a checkpoint line is malformed');
    checkpoints.push(c.data!.checkpoint);
  }
  if (!bytesEqual(fromHex(manifest.head), expect.headHash)) fail('its head differs from the session head');
  return { tenant: expect.tenant, session: expect.session, agent: manifest.agent, events, checkpoints, manifest };
}

const NEWLINE = 0x0a;

/** Where each line of `body` starts and ends, split at every newline as `String.split('\n')` would (none for an empty body). */
function lineRanges(body: Buffer): [number, number][] {
  const out: [number, number][] = [];
  if (body.length === 0) return out;
  let start = 0;
  for (let nl = body.indexOf(NEWLINE); nl >= 0; nl = body.indexOf(NEWLINE, start)) {
    out.push([start, nl]);
    start = nl + 1;
  }
  out.push([start, body.length]);
  return out;
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

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
