import { collectEvents, type VaultEvent } from '../../domain';
import { copyEvents, type Landmarks } from '../../replay';
import { runToHead, type VaultSession } from '../../vault';
import { isGroupBoundary, type ContextReach } from './context';

/**
 * The events a strategy builds the context from: every event, or (a strategy that says
 * it needs less) the part it reaches, back from the head to a group boundary, plus the
 * session's landmarks (recorded system and developer messages, the last instructions and
 * summary events). What this costs then depends on the window, not on the session's
 * length; the context is the same as from every event (src/integrations/openai/context.ts).
 *
 * Two ways to the same events:
 *   - from memory: a build keeps what it returns in this process
 *     (`VaultSession.holdEvents`). The next build's landmarks read asks for the events
 *     after the last one held, and gets them when it could fold from exactly there (the
 *     state this process holds is at that event, which the read checks against the
 *     chain). If the held events and those still reach the window and hold every
 *     landmark, they are the answer: no other event is read or decrypted;
 *   - from the database otherwise: the landmark events and the tail read back from the
 *     head, both at once.
 * The caller always gets its own copies.
 */
export async function contextEvents(session: VaultSession, reach: ContextReach | undefined): Promise<VaultEvent[]> {
  if (!reach || reach.kind === 'all') return collectEvents(session.events());
  const held = session.heldEvents();
  const { head, landmarks, after } = await session.landmarks(held && { seq: held.seq, hash: held.hash });
  if (head === 0) return [];
  const marks = [...new Set([...landmarks.system, landmarks.last.instructions, landmarks.last.summary].filter((s): s is number => s !== undefined))];
  const remembered = held && after ? fromMemory([...held.events, ...after], head, marks, landmarks, reach) : null;
  if (remembered) {
    session.holdEvents(remembered);
    return copyEvents(remembered);
  }
  const events = await fromDatabase(session, marks, landmarks, reach);
  session.holdEvents(copyEvents(events));
  return events;
}

/**
 * The context's events out of `all` (held events, then every event after them, in seq
 * order), or null when they do not reach it: the last is not the head, a landmark is
 * missing, or walking back from the head meets a gap before the window's start.
 */
function fromMemory(all: readonly VaultEvent[], head: number, marks: readonly number[], landmarks: Landmarks, reach: ContextReach): VaultEvent[] | null {
  const start = runToHead(all, head);
  if (start < 0) return null;
  const bySeq = new Map(all.map((e) => [e.seq, e]));
  const known = new Map<number, VaultEvent>();
  for (const seq of marks) {
    const e = bySeq.get(seq);
    if (!e) return null;
    known.set(seq, e);
  }
  const stop = stopsAfter(reach, landmarks, known);
  const tail: VaultEvent[] = [];
  for (let i = all.length - 1; i >= start; i--) {
    tail.push(all[i]!);
    if (stop(all[i]!)) return assemble(known, tail);
  }
  return all[start]!.seq === 1 ? assemble(known, tail) : null; // the whole session, or the held run ends before the window does
}

/** The landmark events and the tail back from the head, read at once (two statements in flight), and no statement for no landmarks. */
async function fromDatabase(session: VaultSession, marks: readonly number[], landmarks: Landmarks, reach: ContextReach): Promise<VaultEvent[]> {
  const landmarkEvents = marks.length > 0 ? session.eventsAt(marks) : Promise.resolve({ events: [] as VaultEvent[] });
  landmarkEvents.catch(() => {}); // awaited below; a failure then is the caller's
  const backward = session.eventsBackward(16);
  const tail: VaultEvent[] = [];
  let known: Map<number, VaultEvent>;
  try {
    const first = await backward.next(); // the tail's statement is in flight beside the landmarks'
    known = new Map((await landmarkEvents).events.map((e) => [e.seq, e]));
    const stop = stopsAfter(reach, landmarks, known);
    for (let step = first; !step.done; step = await backward.next()) {
      tail.push(step.value);
      if (stop(step.value)) break;
    }
  } finally {
    await backward.return(undefined); // as a for-await's break would: settles a page still being fetched
  }
  return assemble(known, tail);
}

/**
 * Whether the walk back from the head ends with `e` (which it includes): past `groups`
 * user messages (a window counts conversation groups, not system ones, so it holds more
 * than it shows), or at a group boundary at or before the latest summary's throughSeq.
 */
function stopsAfter(reach: ContextReach, landmarks: Landmarks, known: ReadonlyMap<number, VaultEvent>): (e: VaultEvent) => boolean {
  const through = reach.kind === 'sinceSummary' ? Number((known.get(landmarks.last.summary ?? -1)?.data as { throughSeq?: number } | undefined)?.throughSeq ?? 0) : 0;
  let boundaries = 0;
  return (e) => isGroupBoundary(e) && (reach.kind === 'tail' ? (e.data as { role?: string }).role === 'user' && ++boundaries > reach.groups : e.seq <= through);
}

/** The landmark events before the tail, then the tail (collected newest first), in seq order. */
function assemble(known: ReadonlyMap<number, VaultEvent>, newestFirst: readonly VaultEvent[]): VaultEvent[] {
  const tail = [...newestFirst].reverse();
  const from = tail[0]?.seq ?? Number.MAX_SAFE_INTEGER;
  return [...[...known.values()].filter((e) => e.seq < from), ...tail].sort((a, b) => a.seq - b.seq);
}
