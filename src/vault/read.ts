import { setImmediate as nextTurn } from 'node:timers/promises';
import { eventStream, type EventStream, type StoredEvent, type VaultEvent } from '../domain';
import { GENESIS_HASH, checkHead, openAlong, openChained, type ChainCursor } from '../events';
import { InputError, IntegrityError, KeyError } from '../errors';
import { bytesEqual, toHex } from '../crypto';
import { readAround, readPage, readSince, type SessionRow } from '../store';
import { sessionRow } from './session-row';
import { readArchived } from './archive';
import type { VaultDeps } from './deps';
import { openSession } from './open-session';
import { headKnown, requireReadableHead } from './signed-head';

/**
 * A session's events as stored, in seq order, wherever they are, in pieces (piecesOf,
 * below). Hot: page by page, memory holding two pages (the one being consumed and the
 * next, fetched meanwhile so the database works while the caller decrypts), never the
 * session; each page is one statement scoped to the tenant on Postgres, a short
 * tenant-scoped transaction on the embedded store (readPage). Archived: from the archive
 * object, fetched and verified first (ARCHIVE_MISSING, ARCHIVE_CORRUPT,
 * STORAGE_UNAVAILABLE). Purged: none. `known`: the session's row, when the caller has
 * just read it. Pieces, not single events: an async generator's yield costs an await and
 * its promises per value, which a replay paid twice an event (this and the decrypting
 * layer) before reads went by pieces.
 */
export async function* storedChunks(
  deps: VaultDeps,
  tenant: string,
  session: string,
  fromSeq = 1,
  known?: SessionRow,
  toSeq = Number.MAX_SAFE_INTEGER,
): AsyncGenerator<StoredEvent[]> {
  // Callers that already read the session's row pass it, so it is not read twice.
  const row = known ?? (await sessionRow(deps, tenant, session));
  if (row?.status === 'archived') {
    yield* piecesOf((await readArchived(deps, row)).events.filter((e) => e.seq >= fromSeq), toSeq);
    return;
  }
  if (row?.status === 'purged') return;
  // A bounded range (toSeq) fetches no more rows than it needs.
  const pageFor = (after: number) => Math.max(1, Math.min(deps.pageSize, toSeq - after));
  const fetch = (after: number) => readPage(deps.store, tenant, session, after, pageFor(after));
  let after = Math.max(0, fromSeq - 1);
  let pending = fetch(after);
  try {
    for (;;) {
      const asked = pageFor(after);
      const page = await pending;
      const last = page[page.length - 1]?.seq;
      const more = page.length === asked && last !== undefined && last < toSeq;
      if (more) {
        after = last;
        pending = fetch(after);
      }
      for (const piece of piecesOf(page, toSeq)) {
        yield piece;
        if (more) await nextTurn();
      }
      if (!more) return;
    }
  } finally {
    // A consumer that stops early (replay up to a point) leaves a prefetch in flight: settle it.
    pending.catch(() => {});
  }
}

/**
 * Events (up to `toSeq`) in pieces of about PIECE_BYTES of ciphertext, each ending with
 * the event that reaches it: what one consumer step decrypts and holds at once, and
 * between two pieces of a page the reader lets node's I/O in.
 *
 * Why: while the consumer works through a page, the next one is on its way: on Postgres
 * its bytes arrive on the socket, which node reads only between tasks. A consumer that
 * decrypts and folds a whole page without a break (replay, export, verify) left them
 * unread, the socket's buffers filled, the server stopped sending, and the next page then
 * came in while the consumer waited for it (measured: 102 ms of a 10,000-event replay's
 * 204 went by at the await for the next page, reading it then instead of meanwhile, and
 * the client sat idle for 15% of its profile). So after each piece of a page handed out
 * while a fetch is in flight, one turn of the event loop (a few microseconds): about
 * every 125 events of ~1 KB. An archive, read whole, goes by the same pieces, so what is
 * decrypted at once stays bounded there too.
 */
function* piecesOf(events: readonly StoredEvent[], toSeq: number): Generator<StoredEvent[]> {
  let piece: StoredEvent[] = [];
  let bytes = 0;
  for (const e of events) {
    if (e.seq > toSeq) continue;
    piece.push(e);
    bytes += e.ciphertext.length;
    if (bytes >= PIECE_BYTES) {
      yield piece;
      piece = [];
      bytes = 0;
    }
  }
  if (piece.length > 0) yield piece;
}

const PIECE_BYTES = 128 * 1024;

/**
 * A session whose key was shredded, perhaps by another process: whatever this process
 * still holds for it (its key, its latest state) is forgotten, never used, and the
 * KEY_DESTROYED error to throw is returned.
 */
function forgetShredded(deps: VaultDeps, tenant: string, session: string): KeyError {
  deps.cache.delete(tenant, session);
  return new KeyError('KEY_DESTROYED', `the key of session ${tenant}/${session} has been destroyed`);
}

/** A read's seq range: `fromSeq` (default 1) through `toSeq` (default: the head). INVALID_INPUT for anything else. */
export function seqRange(options: { fromSeq?: number; toSeq?: number }): { fromSeq: number; toSeq: number } {
  const fromSeq = options.fromSeq ?? 1;
  const toSeq = options.toSeq ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) throw new InputError('INVALID_INPUT', 'fromSeq must be an integer ≥ 1');
  if (!Number.isSafeInteger(toSeq) || toSeq < fromSeq) throw new InputError('INVALID_INPUT', 'toSeq must be an integer ≥ fromSeq');
  return { fromSeq, toSeq };
}

/**
 * A session's events, decrypted, page by page, each row checked against the chain as it
 * is read: its hash must be the hash of its stored columns and its predecessor's hash
 * (BLAKE2b, cheap beside decryption), so a removed, inserted or rewritten row fails with
 * CHAIN_BROKEN instead of being shown. UNKNOWN_SESSION if it does not exist;
 * KEY_DESTROYED if its key was shredded; DECRYPTION_FAILED if a ciphertext does not open
 * where it is (altered, moved from another row, session or tenant, or its clear columns
 * rewritten and the chain recomputed: the associated data binds them). An EventStream:
 * one event at a time, or the arrays storedChunks reads (which replay folds).
 */
export function decryptedEvents(deps: VaultDeps, tenant: string, session: string, fromSeq = 1, toSeq = Number.MAX_SAFE_INTEGER): EventStream {
  return eventStream(decryptedChunks(deps, tenant, session, fromSeq, toSeq));
}

/**
 * decryptedEvents' arrays. A row that fails its checks fails where it is (openAlong): the
 * events before it in its array are handed out first, and the error comes with the next
 * array asked for.
 */
async function* decryptedChunks(deps: VaultDeps, tenant: string, session: string, fromSeq: number, toSeq: number): AsyncGenerator<VaultEvent[]> {
  const known = await sessionRow(deps, tenant, session);
  if (known && known.status !== 'purged' && known.wrappedDataKey === null) throw forgetShredded(deps, tenant, session);
  const s = deps.cache.get(tenant, session) ?? (await openSession(deps, tenant, session, null));
  // Past a head no trusted key signed (active or archived: archiving keeps the checkpoints),
  // only a read bounded at a signed seq goes on, checked there.
  const signedAt = known && known.status !== 'purged' && !headKnown(s, known) ? await requireReadableHead(deps, tenant, session, s, known, toSeq) : null;
  // From seq n the chain check needs event n-1's hash: read it too, and check from it.
  const at: ChainCursor = { prev: fromSeq === 1 ? GENESIS_HASH : null, expected: fromSeq };
  for await (const rows of storedChunks(deps, tenant, session, Math.max(1, fromSeq - 1), known ?? undefined, toSeq)) {
    const run = openAlong(rows, at, s.dataKey, signedAt);
    if (run.events.length > 0) yield run.events;
    if (run.failure) throw run.failure.error;
  }
  if (signedAt && at.expected <= signedAt.seq) {
    throw new IntegrityError('CHAIN_BROKEN', `events of ${tenant}/${session} end at seq ${at.expected - 1}, below the signed head they were read up to (${signedAt.seq}); run verify`);
  }
}

/**
 * Particular events of a session, decrypted, each checked against the hash of the event
 * before it (read in the same statement), and the session's head seq: the last `tail`
 * events and those at `seqs`, in one round trip (session_vault_read) instead of a
 * transaction of four, so "where was I" (an agent's latest state, a LangGraph thread's
 * latest checkpoint) costs the same at any session length. Seqs past the head are left
 * out. An archived session is read from its archive object; a purged or unknown one has
 * none (head 0). The head event is also checked against the session's recorded head.
 */
export async function decryptedAt(deps: VaultDeps, tenant: string, session: string, tail: number, seqs: readonly number[]): Promise<{ head: number; events: VaultEvent[] }> {
  const read = await readAround(deps.store, tenant, session, tail, seqs);
  if (!read || read.status === 'purged') return { head: 0, events: [] };
  if (!read.keyed) throw forgetShredded(deps, tenant, session);
  const head = read.headSeq;
  const wanted = new Set([...Array.from({ length: Math.min(tail, head) }, (_, i) => head - i), ...seqs.filter((s) => s >= 1 && s <= head)]);
  let rows = read.events;
  if (read.status === 'archived') {
    const row = await sessionRow(deps, tenant, session);
    rows = row ? (await readArchived(deps, row)).events.filter((e) => wanted.has(e.seq) || wanted.has(e.seq + 1)) : [];
  }
  if (wanted.size === 0) return { head, events: [] };
  const s = deps.cache.get(tenant, session) ?? (await openSession(deps, tenant, session, null));
  if (!headKnown(s, read)) await requireReadableHead(deps, tenant, session, s, read); // active or archived: the checkpoints stay
  const bySeq = new Map(rows.map((r) => [r.seq, r]));
  const out: VaultEvent[] = [];
  for (const seq of [...wanted].sort((a, b) => a - b)) {
    const r = bySeq.get(seq);
    const prev = seq === 1 ? GENESIS_HASH : bySeq.get(seq - 1)?.hash;
    if (!r) throw new IntegrityError('CHAIN_BROKEN', `event ${seq} of ${tenant}/${session} is missing below its head; run verify`);
    const event = openChained(r, prev ?? null, seq, s.dataKey);
    if (read.headHash !== null) checkHead(r, { seq: head, hash: read.headHash });
    out.push(event);
  }
  return { head, events: out };
}

/**
 * The events after one the caller holds (its seq and hash: a LangGraph thread's events
 * kept from its last latest read), decrypted, each checked against the chain from the held
 * one, the head seq and the latest snapshot's, in one statement (session_vault_read_since). Null, for the caller
 * to read another way, when the chain no longer runs through the held event (a database
 * restored to an earlier point, a rewritten row: logged), when the session is not active
 * (archived, purged) and when more than `limit` events follow it. The last event must be
 * the head the session records (CHAIN_BROKEN otherwise: a cut tail, a rewound head);
 * KEY_DESTROYED for a session shredded, perhaps by another process, whose key is then
 * forgotten; UNKNOWN_SESSION for one that does not exist.
 */
export async function decryptedSince(
  deps: VaultDeps,
  tenant: string,
  session: string,
  since: { seq: number; hash: string },
  limit: number,
): Promise<{ head: number; events: VaultEvent[]; snapshotSeq: number } | null> {
  // The held row, `limit` events, and one more: the statement filled (`full`) means more than `limit` came since.
  const read = await readSince(deps.store, tenant, session, since.seq, limit + 2);
  if (!read) throw new InputError('UNKNOWN_SESSION', `unknown session ${tenant}/${session}`);
  if (!read.keyed && read.status !== 'purged') throw forgetShredded(deps, tenant, session);
  if (read.status !== 'active' || read.full) return null;
  if (!read.held || toHex(read.held.hash) !== since.hash) {
    // What this process held (a latest state, a model context's or a LangGraph thread's events) is dropped by the caller.
    deps.logger.warn({ op: 'held.dropped', seq: since.seq }, 'what this process holds of the session is not on the chain; reading without it');
    return null;
  }
  const s = deps.cache.get(tenant, session) ?? (await openSession(deps, tenant, session, null));
  if (!headKnown(s, read)) await requireReadableHead(deps, tenant, session, s, read);
  const run = openAlong(read.events, { prev: read.held.hash, expected: since.seq + 1 }, s.dataKey);
  if (run.failure) throw run.failure.error;
  const events = run.events;
  const last = read.events[read.events.length - 1] ?? read.held;
  if (last.seq !== read.headSeq || read.headHash === null || !bytesEqual(last.hash, read.headHash)) {
    throw new IntegrityError('CHAIN_BROKEN', `events of ${tenant}/${session} end at seq ${last.seq}, which is not the head its session records (${read.headSeq}); run verify`);
  }
  return { head: read.headSeq, events, snapshotSeq: read.snapshotSeq };
}
