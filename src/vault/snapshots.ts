import { InputError } from '../errors';
import { bytesEqual, fromHex, type SecretBytes } from '../crypto';
import { openSnapshot, sealSnapshot } from '../events';
import { replay, replayFrom, type AgentState, type ReplayPoint } from '../replay';
import { insertSnapshot, nearestSnapshot, readEvents, readSession, withTenant } from '../store';
import type { VaultDeps } from './deps';
import { openSession } from './open-session';
import { decryptedEvents } from './read';

/**
 * The agent state of a session, now or at a point, from the nearest snapshot at or
 * before it plus the events after it (src/events/snapshot.ts): reading the latest state
 * decrypts the events since the last snapshot, not the whole session. A snapshot is used
 * only if it opens where it is and the chain's hash at its seq is the head it names;
 * otherwise it is ignored (logged) and the state replayed in full, so a corrupted,
 * forged or stale snapshot can cost time but never change a result. Archived sessions
 * replay from their archive object. INVALID_INPUT for an `atSeq` past the head (it would
 * otherwise silently answer with the latest state).
 */
export async function stateAt(deps: VaultDeps, tenant: string, session: string, point: ReplayPoint = {}): Promise<AgentState> {
  let opened = deps.cache.get(tenant, session) ?? (await openSession(deps, tenant, session, null));
  if (point.atSeq !== undefined && point.atSeq > opened.headSeq) {
    // The cached head is a hint: look again before refusing (another process may have appended).
    opened = await openSession(deps, tenant, session, null);
    if (point.atSeq > opened.headSeq) {
      throw new InputError('INVALID_INPUT', `--at-seq ${point.atSeq} is past the head of ${tenant}/${session} (seq ${opened.headSeq})`);
    }
  }
  const meta = { tenant, session, agent: opened.agent };
  if (opened.status !== 'active') return replay(meta, decryptedEvents(deps, tenant, session), point);
  const base = await usableSnapshot(deps, tenant, session, point, meta, opened.dataKey);
  const state = base
    ? await replayFrom(base, decryptedEvents(deps, tenant, session, base.lastSeq + 1), point)
    : await replay(meta, decryptedEvents(deps, tenant, session), point);
  // The latest state of a session whose last snapshot is `snapshotEvery` events behind is
  // sealed as a new snapshot, off the caller's path: sessions that are read get them, and
  // appends never pay for them. Its JSON is taken now, before the caller can change it.
  const k = deps.snapshotEvery;
  if (k > 0 && point.atSeq === undefined && point.at === undefined && state.lastSeq - (base?.lastSeq ?? 0) >= k) {
    const json = JSON.stringify(state);
    deps.background.run(() => storeSnapshot(deps, tenant, session, state.lastSeq, state.lastAt!, state.head!, json), 'snapshot');
  }
  return state;
}

async function usableSnapshot(
  deps: VaultDeps,
  tenant: string,
  session: string,
  point: ReplayPoint,
  meta: { tenant: string; session: string; agent: string | null },
  dataKey: SecretBytes,
): Promise<AgentState | null> {
  const found = await withTenant(deps.store.db, tenant, 'reading a snapshot', async (tx) => {
    const snap = await nearestSnapshot(tx, tenant, session, point);
    if (!snap) return null;
    const [event] = await readEvents(tx, tenant, session, snap.seq - 1, 1);
    return { snap, event };
  });
  if (!found) return null;
  const { snap, event } = found;
  const ignore = (why: string) => {
    deps.logger.warn({ op: 'snapshot.ignored', seq: snap.seq, why }, 'snapshot not used; replaying in full');
    return null;
  };
  if (!event || event.seq !== snap.seq || !bytesEqual(event.hash, snap.headHash)) return ignore('not on the chain');
  let state: AgentState;
  try {
    state = openSnapshot(snap, dataKey) as AgentState;
  } catch {
    return ignore('does not open');
  }
  if (state?.lastSeq !== snap.seq || state.tenant !== tenant || state.session !== session || !state.head || !bytesEqual(fromHex(state.head), snap.headHash)) {
    return ignore('names another place');
  }
  return { ...state, agent: meta.agent };
}

/**
 * Writes a snapshot of the session's state at its head now (on demand; reads also write
 * one when the last is `snapshotEvery` events behind). Returns the seq it folds up to
 * (0: nothing yet, or the session's key is gone).
 */
export async function writeSnapshot(deps: VaultDeps, tenant: string, session: string): Promise<number> {
  const state = await stateAt(deps, tenant, session);
  if (state.lastSeq === 0 || !state.head || !state.lastAt) return 0;
  return (await storeSnapshot(deps, tenant, session, state.lastSeq, state.lastAt, state.head, JSON.stringify(state))) ? state.lastSeq : 0;
}

async function storeSnapshot(deps: VaultDeps, tenant: string, session: string, seq: number, lastAt: string, head: string, json: string): Promise<boolean> {
  const opened = deps.cache.get(tenant, session) ?? (await openSession(deps, tenant, session, null));
  const sealed = sealSnapshot(json, { tenant, session, seq, at: new Date(lastAt), headHash: fromHex(head) }, opened.dataKey);
  const written = await withTenant(deps.store.db, tenant, 'writing a snapshot', async (tx) => {
    // Locked, as shredding and purge lock it: a snapshot never outlives its session's key.
    const row = await readSession(tx, tenant, session, true);
    if (!row || row.status !== 'active' || row.wrappedDataKey === null) return false;
    await insertSnapshot(tx, sealed);
    return true;
  });
  if (written) deps.logger.debug({ op: 'snapshot', seq }, 'snapshot written');
  return written;
}
