import { InputError, IntegrityError } from '../errors';
import { bytesEqual, fromHex, type SecretBytes } from '../crypto';
import { GENESIS_HASH, openAlong, openSnapshot, sealSnapshot, type ChainCursor, type RecordedHead, type SealedSnapshot } from '../events';
import { chunksOf, eventStream, type EventSource, type EventStream, type StoredEvent, type VaultEvent } from '../domain';
import { copyEvent, copyState, freshCompact, isFull, nothingDropped, replayCompact, trim, windowOf, type AgentState, type CompactState, type Dropped, type Landmarks, type ReplayPoint } from '../replay';
import { insertSnapshot, readForState, readSession, withTenant, type StateRead, type StoredSnapshot } from '../store';
import { keysVouchingAt, signSnapshot, snapshotSigned } from '../audit';
import type { VaultDeps } from './deps';
import { openSession } from './open-session';
import { headKnown, requireReadableHead } from './signed-head';
import { ownKeyFirst } from './own-key-first';
import { decryptedEvents, decryptedSince } from './read';

/** What `state()` takes: a point (none: the head) and, optionally, a window. */
export interface StateOptions extends ReplayPoint {
  /** Only the last `window` entries of each list (messages, tool calls, agent items, model errors). */
  window?: number;
}

/** The options, checked: INVALID_INPUT for a negative or fractional seq, an invalid time, a window outside 1..100000. */
export function checkStateOptions(options: StateOptions): StateOptions {
  const { atSeq, at, window } = options;
  if (atSeq !== undefined && (!Number.isSafeInteger(atSeq) || atSeq < 0)) throw new InputError('INVALID_INPUT', 'atSeq must be an integer ≥ 0');
  if (at !== undefined && (!(at instanceof Date) || Number.isNaN(at.getTime()))) throw new InputError('INVALID_INPUT', 'at must be a valid time');
  if (window !== undefined && (!Number.isSafeInteger(window) || window < 1 || window > 100_000)) throw new InputError('INVALID_INPUT', 'window must be an integer 1..100000');
  return options;
}

/**
 * The agent state of a session, now or at a point, from the nearest snapshot at or
 * before it plus the events after it (src/events/snapshot.ts): reading the latest state
 * decrypts the events since the last snapshot, not the whole session. A snapshot is used
 * only if it opens where it is and the chain's hash at its seq is the head it names;
 * otherwise it is ignored (logged) and the state replayed in full, so a corrupted,
 * forged or stale snapshot can cost time but never change a result. Archived sessions
 * replay from their archive object. INVALID_INPUT for an `atSeq` past the head (it would
 * otherwise silently answer with the latest state).
 *
 * Snapshots are compact (src/replay/window.ts): each list keeps its last
 * `snapshotWindow` entries. A windowed read (`window` ≤ `snapshotWindow`) is answered
 * from one at a cost that does not grow with the session; a full read uses one only
 * while it still holds every entry, and otherwise replays every event.
 */
export async function stateAt(deps: VaultDeps, tenant: string, session: string, options: StateOptions = {}): Promise<AgentState> {
  const { compact, shown, sinceSnapshot } = await compactAt(deps, tenant, session, options);
  if (options.atSeq !== undefined || options.at !== undefined) return shown;
  snapshotIfBehind(deps, tenant, session, compact, sinceSnapshot);
  // The caller gets a copy: the held state is folded in place by the next read.
  const copy = copyState(shown);
  hold(deps, tenant, session, compact);
  return copy;
}

/**
 * Where a session's system messages and last event of each type are, and its head, read
 * as the latest state is (snapshot + tail: flat in the session's length). What a model
 * context built from the session's tail needs besides the tail (src/integrations/openai).
 *
 * With `since` (an event of the session the caller holds: its seq and hash), `after` is
 * also given when this read's fold passed through it (see `recorded`): every event after
 * it, decrypted and checked against the chain, so the caller needs no other read for them.
 */
export async function landmarksAt(deps: VaultDeps, tenant: string, session: string, since?: { seq: number; hash: string }): Promise<{ head: number; landmarks: Landmarks; after?: VaultEvent[] }> {
  const from: Since | undefined = since && { seq: since.seq, hash: since.hash };
  const read = await compactAt(deps, tenant, session, { window: 1 }, true, from);
  snapshotIfBehind(deps, tenant, session, read.compact, read.sinceSnapshot);
  const marks = read.compact.landmarks!;
  const out = { head: read.compact.state.lastSeq, landmarks: { system: [...marks.system], last: { ...marks.last } }, ...(from?.events ? { after: from.events } : {}) };
  hold(deps, tenant, session, read.compact);
  return out;
}

/** A point a caller holds events up to, and, once a read's fold passed through it, the events it folded after it (copies). */
interface Since {
  seq: number;
  hash: string;
  events?: VaultEvent[];
}

/**
 * The events a fold from `start` takes, those after the point `since` names also copied
 * into `since.events`, when the fold passes through that point: it starts there (its
 * seq, and the head the read checked against the chain, is `since.hash`), or it starts
 * before and folds the event at that seq, whose hash is `since.hash` (checked against the
 * chain as it is folded). Every fold of a read calls this again, so only the one that
 * answered is kept.
 */
function recorded(start: CompactState, events: EventSource, since: Since | undefined): EventSource {
  if (!since) return events;
  delete since.events;
  if (start.state.lastSeq > since.seq || (start.state.lastSeq === since.seq && start.state.head !== since.hash)) return events;
  const s = since;
  return eventStream(
    (async function* () {
      let into: VaultEvent[] | null = start.state.lastSeq === s.seq ? (s.events = []) : null;
      for await (const chunk of chunksOf(events)) {
        for (const e of chunk) {
          if (into) into.push(copyEvent(e)); // the fold may keep parts of an event in the state it changes later
          else if (e.seq === s.seq && e.hash === s.hash) into = s.events = [];
        }
        yield chunk;
      }
    })(),
  );
}

/** Keeps a latest state this read folded, trimmed as a snapshot would be, for the next read (SessionCache). */
function hold(deps: VaultDeps, tenant: string, session: string, compact: CompactState): void {
  if (!compact.state.head) return;
  deps.cache.holdState(tenant, session, trim(compact, deps.snapshotWindow));
}

/**
 * Seals the latest state as a new snapshot when the last one is far enough behind, off
 * the caller's path: sessions that are read get them, and appends never pay for them.
 * Far enough is `snapshotEvery` events, or sooner while the session is young: as many
 * events as the last snapshot's seq, and at least `snapshotWindow` (snapshots at 100,
 * 200, 400, 800, then every 500 by default). Most sessions are short, and a short one
 * then folds about as few events as a long one, for two or three snapshots more. The
 * JSON is taken now, before the caller can change the state.
 */
function snapshotIfBehind(deps: VaultDeps, tenant: string, session: string, compact: CompactState, sinceSnapshot: number): void {
  const k = deps.snapshotEvery;
  const state = compact.state;
  const behind = Math.min(k, Math.max(deps.snapshotWindow, state.lastSeq - sinceSnapshot));
  if (k > 0 && sinceSnapshot >= behind && state.head && state.lastAt) {
    const json = snapshotJson(compact, deps.snapshotWindow);
    deps.background.run(() => storeSnapshot(deps, tenant, session, state.lastSeq, state.lastAt!, state.head!, json), 'snapshot');
  }
}

/** What compactAt answers: the compact state (the caller's own), what is shown, and how far it is past the last snapshot. */
interface CompactRead {
  compact: CompactState;
  shown: AgentState;
  sinceSnapshot: number;
}

/**
 * The state at a point as a compact state (what a snapshot of it holds), what the caller
 * is shown (the whole state, or its window) and how many events it is past the snapshot
 * it started from. It starts from the nearest of: the state this process holds for the
 * session (latest reads only), the nearest snapshot, the first event. A compact state a
 * retraction made inexact, or a window wider than what it starts from keeps, is replaced
 * by a full replay. Folds from the start keep landmarks, so with `needLandmarks` a
 * snapshot without them is not started from. With `record`, the events a fold takes after
 * the point it names are kept there (see `recorded`).
 */
async function compactAt(deps: VaultDeps, tenant: string, session: string, options: StateOptions, needLandmarks = false, record?: Since): Promise<CompactRead> {
  const { window, ...point } = options;
  let opened = deps.cache.get(tenant, session) ?? (await openSession(deps, tenant, session, null));
  if (point.atSeq !== undefined && point.atSeq > opened.headSeq) {
    // The cached head is a hint: look again before refusing (another process may have appended).
    opened = await openSession(deps, tenant, session, null);
    if (point.atSeq > opened.headSeq) {
      throw new InputError('INVALID_INPUT', `--at-seq ${point.atSeq} is past the head of ${tenant}/${session} (seq ${opened.headSeq})`);
    }
  }
  const meta = { tenant, session, agent: opened.agent };
  const show = (c: CompactState) => (window === undefined ? (isFull(c.dropped) ? c.state : null) : windowOf(c, window));
  // A full read keeps every entry; a windowed one keeps about twice what it shows, so memory stays flat.
  const retain = window === undefined ? Number.MAX_SAFE_INTEGER : Math.max(deps.snapshotWindow, window);
  const upto = point.atSeq ?? Number.MAX_SAFE_INTEGER;
  const latest = point.atSeq === undefined && point.at === undefined;
  // A held state answers what a snapshot would: a window it keeps, the whole state while it dropped nothing, landmarks when it knows them.
  const taken = latest ? deps.cache.takeState(tenant, session) : undefined;
  const held = taken && (window === undefined ? isFull(taken.dropped) : window <= deps.snapshotWindow) && (!needLandmarks || taken.landmarks) ? taken : undefined;
  if (held?.state.head && opened.status === 'active') {
    // The held state and the events since it, checked against the chain from its head, in
    // one statement (session_vault_read_since). Null when the chain no longer runs through
    // it (logged), the session is no longer active, or more than a page of events came since.
    const caught = await decryptedSince(deps, tenant, session, { seq: held.state.lastSeq, hash: held.state.head }, deps.pageSize);
    if (caught) {
      const compact = await replayCompact(held, recorded(held, caught.events, record), point, retain);
      const shown = compact && show(compact);
      if (compact && shown) return { compact, shown, sinceSnapshot: compact.state.lastSeq - caught.snapshotSeq };
    }
    // Otherwise (or a retraction reached what it dropped): read as if none were held.
  }
  let since = 0;
  if (opened.status === 'active') {
    // One statement: the session's head, the nearest snapshot, and the events from it.
    const limit = deps.pageSize + 1;
    let read = await readForState(deps.store, tenant, session, { upto, ...(point.at ? { at: point.at } : {}) }, limit);
    if (read && !read.keyed) {
      // Shredded, perhaps by another process: forget the key held for it, and open the session again (which says so).
      deps.cache.delete(tenant, session);
      opened = await openSession(deps, tenant, session, null);
      read = null;
    }
    if (read?.status === 'active') {
      // Past a head no trusted key signed, a state at a signed seq still reads, checked there.
      const signedAt = headKnown(opened, read) ? null : await requireReadableHead(deps, tenant, session, opened, read, point.atSeq);
      const found = read.snapshot && (await trustedSnapshot(deps, read.snapshot)) ? usableSnapshot(deps, read.snapshot, read.events[0], meta, opened.dataKey) : null;
      // A snapshot from before landmarks were kept cannot answer for them: fold from the start, and seal one that can.
      const base = found && (!needLandmarks || found.landmarks) ? found : null;
      since = base?.state.lastSeq ?? 0;
      const start = base && (window !== undefined || isFull(base.dropped)) ? base : null;
      // The statement's events start at the snapshot (or at 1 when there is none); an unusable one means reading from 1.
      const events = start || !read.snapshot ? eventsAfter(deps, meta, read, start?.state.lastSeq ?? 0, limit, upto, opened.dataKey, signedAt) : decryptedEvents(deps, tenant, session, 1, upto);
      if (start || window !== undefined || !read.snapshot) {
        const origin = start ?? freshCompact(meta);
        const compact = await replayCompact(origin, recorded(origin, events, record), point, retain);
        const shown = compact && show(compact);
        if (compact && shown) return { compact, shown, sinceSnapshot: compact.state.lastSeq - since };
      }
    }
  }
  // No snapshot that holds what is asked (or a retraction reached what it dropped): every event.
  const fresh = freshCompact(meta);
  const compact = (await replayCompact(fresh, recorded(fresh, decryptedEvents(deps, tenant, session, 1, upto), record), point, Number.MAX_SAFE_INTEGER))!; // keeps every entry: never null
  return { compact, shown: show(compact)!, sinceSnapshot: compact.state.lastSeq - since };
}

/**
 * The events after seq `after` of a state read, decrypted and checked against the chain
 * from the event at `after` (or genesis); the event at the session's head also against
 * the head the session records. A read that filled its `limit` goes on page by page.
 */
function eventsAfter(deps: VaultDeps, place: { tenant: string; session: string }, read: StateRead, after: number, limit: number, upto: number, dataKey: SecretBytes, signedAt: RecordedHead | null): EventStream {
  return eventStream(chunksAfter(deps, place, read, after, limit, upto, dataKey, signedAt));
}

/** eventsAfter's arrays: the statement's events as one, then decryptedEvents' (a row that fails: as openAlong says). */
async function* chunksAfter(deps: VaultDeps, place: { tenant: string; session: string }, read: StateRead, after: number, limit: number, upto: number, dataKey: SecretBytes, signedAt: RecordedHead | null): AsyncGenerator<readonly VaultEvent[]> {
  const at: ChainCursor = { prev: after === 0 ? GENESIS_HASH : null, expected: after + 1 };
  // Checked at the session's head, or, past a head no trusted key signed, at the signed seq the read is bounded at.
  const run = openAlong(read.events, at, dataKey, signedAt ?? (read.headHash === null ? null : { seq: read.headSeq, hash: read.headHash }));
  if (run.events.length > 0) yield run.events;
  if (run.failure) throw run.failure.error;
  const expected = at.expected;
  const last = read.events[read.events.length - 1];
  if (read.events.length === limit && last && last.seq < upto) {
    yield* decryptedEvents(deps, place.tenant, place.session, last.seq + 1, upto).chunks();
  } else if (expected - 1 < Math.min(upto, read.headSeq)) {
    // The statement saw the head and the rows together: fewer rows than the head is a cut tail.
    throw new IntegrityError('CHAIN_BROKEN', `events of ${place.tenant}/${place.session} end at seq ${expected - 1}, below the head its session records (${read.headSeq}); run verify`);
  }
}

/** A snapshot's JSON: the state trimmed to `retain` entries a list, and what it dropped (the state itself is not changed). */
function snapshotJson(compact: CompactState, retain: number): string {
  const copy = trim({ state: { ...compact.state }, dropped: structuredClone(compact.dropped) }, retain);
  return JSON.stringify({ ...copy.state, dropped: copy.dropped, landmarks: compact.landmarks ?? null });
}

/**
 * Whether a vault may start from this snapshot: one that signs starts only from a snapshot
 * a trusted key signed (its own key first: audit/snapshot-signature.ts). Whoever holds the
 * session's data key can seal a state of their own at a real head, so a snapshot no trusted
 * key signed is passed over (logged) and the state is folded from the events; a vault that
 * signs nothing uses any, as before. A snapshot's signature carries no time, so one by a
 * retired key counts only where the database stored it in the key's period, by its own
 * clock (drizzle/0056, audit/key-period.ts): what the key's leaked secret half signs later
 * is passed over. One stored before 0056 by a retired key is passed over once a process,
 * until the read writes one under the new key.
 */
async function trustedSnapshot(deps: VaultDeps, snap: StoredSnapshot): Promise<boolean> {
  const signer = await deps.signer();
  if (!signer) return true;
  if (snap.keyId !== null) {
    const periods = await deps.keyPeriods();
    if (await ownKeyFirst(deps, signer, (keys) => snapshotSigned(snap, snap, keysVouchingAt(keys, periods, snap.storedAt)), (ok) => ok)) return true;
  }
  deps.logger.warn({ op: 'snapshot.ignored', seq: snap.seq, why: 'not signed by a trusted key' }, 'snapshot not used; replaying in full');
  return false;
}

/**
 * A snapshot as a compact state, if it can be used: it sits on the chain (`event`, the
 * event at its seq, has the head it names), opens where it is, and names its own place.
 * Otherwise null (logged), and the caller replays.
 */
function usableSnapshot(deps: VaultDeps, snap: SealedSnapshot, event: StoredEvent | undefined, meta: { tenant: string; session: string; agent: string | null }, dataKey: SecretBytes): CompactState | null {
  const ignore = (why: string) => {
    deps.logger.warn({ op: 'snapshot.ignored', seq: snap.seq, why }, 'snapshot not used; replaying in full');
    return null;
  };
  if (!event || event.seq !== snap.seq || !bytesEqual(event.hash, snap.headHash)) return ignore('not on the chain');
  let state: AgentState & { dropped?: Dropped; landmarks?: Landmarks | null };
  try {
    state = openSnapshot(snap, dataKey) as AgentState & { dropped?: Dropped; landmarks?: Landmarks | null };
  } catch {
    return ignore('does not open');
  }
  if (state?.lastSeq !== snap.seq || state.tenant !== meta.tenant || state.session !== meta.session || !state.head || !bytesEqual(fromHex(state.head), snap.headHash)) {
    return ignore('names another place');
  }
  // Written before snapshots were compact, a snapshot holds the full state: nothing dropped.
  const { dropped = nothingDropped(), landmarks = null, ...rest } = state;
  return { state: { ...rest, agent: meta.agent }, dropped, landmarks };
}

/**
 * Writes a snapshot of the session's state at its head now (on demand; reads also write
 * one when the last is `snapshotEvery` events behind). Returns the seq it folds up to
 * (0: nothing yet, or the session's key is gone).
 */
export async function writeSnapshot(deps: VaultDeps, tenant: string, session: string): Promise<number> {
  const { compact } = await compactAt(deps, tenant, session, { window: deps.snapshotWindow });
  const state = compact.state;
  if (state.lastSeq === 0 || !state.head || !state.lastAt) return 0;
  const json = snapshotJson(compact, deps.snapshotWindow);
  hold(deps, tenant, session, compact);
  return (await storeSnapshot(deps, tenant, session, state.lastSeq, state.lastAt, state.head, json)) ? state.lastSeq : 0;
}

async function storeSnapshot(deps: VaultDeps, tenant: string, session: string, seq: number, lastAt: string, head: string, json: string): Promise<boolean> {
  const opened = deps.cache.get(tenant, session) ?? (await openSession(deps, tenant, session, null));
  const sealed = sealSnapshot(json, { tenant, session, seq, at: new Date(lastAt), headHash: fromHex(head) }, opened.dataKey, deps.padContent);
  const signer = await deps.signer();
  const stored: StoredSnapshot = { ...sealed, ...(signer ? signSnapshot(sealed, signer) : { keyId: null, signature: null }) };
  const written = await withTenant(deps.store.db, tenant, 'writing a snapshot', async (tx) => {
    // Locked, as shredding and purge lock it: a snapshot never outlives its session's key.
    const row = await readSession(tx, tenant, session, true);
    if (!row || row.status !== 'active' || row.wrappedDataKey === null) return false;
    await insertSnapshot(tx, stored);
    return true;
  });
  if (written) deps.logger.debug({ op: 'snapshot', seq }, 'snapshot written');
  return written;
}
