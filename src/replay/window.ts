import { chunksOf, type EventSource, type VaultEvent } from '../domain';
import { isPast } from './fold';
import { evolve, initialState, type AgentState, type StateWindow } from './state';

/**
 * Windowed state: the agent state with only the last N entries of each list (messages,
 * tool calls, agent items, model errors), what an agent reads every turn. Pure.
 *
 * A full state holds every message, so its snapshot and its cost grow with the session.
 * A *compact* state keeps every scalar (tool and world state, task, summary, usage) and,
 * of each list, the last `retain` entries plus any tool call still waiting for its
 * result; what it left out is counted in `dropped`. Folding events onto it stays exact
 * unless a retraction reaches into what was dropped without taking all of it: then the
 * fold says so (null) and the caller replays in full. A window of N ≤ `retain` is then
 * read off it exactly: `windowOf(compact, N)` equals `windowOf(full, N)`.
 */

/** What a compact state left out of one list: how many entries and the seqs they span. */
export interface DroppedEntries {
  count: number;
  minSeq: number;
  /** The highest seq of a dropped entry (for tool calls, of their call or result). */
  maxSeq: number;
}

export type ListName = 'messages' | 'toolCalls' | 'agentItems' | 'modelErrors';
export const LISTS: readonly ListName[] = ['messages', 'toolCalls', 'agentItems', 'modelErrors'];
/** The lists a retraction takes entries from (model errors stay). */
const RETRACTABLE: readonly ListName[] = ['messages', 'toolCalls', 'agentItems'];

export type Dropped = Record<ListName, DroppedEntries>;

/**
 * Where things are that a model's context needs however old they are: the seqs of the
 * recorded system and developer messages, and the seq of the last event of each type
 * (the last `instructions`, the last `summary`). Counted from the events, retractions aside.
 */
export interface Landmarks {
  system: number[];
  last: { [type: string]: number };
}

/** A state with some of its lists' oldest entries left out (none: a full state). */
export interface CompactState {
  state: AgentState;
  dropped: Dropped;
  /** Absent or null when not known (a snapshot written before they were kept). */
  landmarks?: Landmarks | null;
}

/** A compact state before the first event: nothing dropped, landmarks known. */
export function freshCompact(meta: { tenant: string; session: string; agent: string | null }): CompactState {
  return { state: initialState(meta), dropped: nothingDropped(), landmarks: { system: [], last: {} } };
}

const none = (): DroppedEntries => ({ count: 0, minSeq: 0, maxSeq: 0 });
export const nothingDropped = (): Dropped => ({ messages: none(), toolCalls: none(), agentItems: none(), modelErrors: none() });

/** True when no list lost an entry: the compact state is the full state. */
export function isFull(dropped: Dropped): boolean {
  return LISTS.every((l) => dropped[l].count === 0);
}

const seqOf = (list: ListName, entry: any): number => (list === 'toolCalls' ? entry.callSeq : entry.seq);
const lastSeqOf = (list: ListName, entry: any): number => (list === 'toolCalls' ? Math.max(entry.callSeq, entry.resultSeq ?? 0) : entry.seq);
const isOpenCall = (list: ListName, entry: any): boolean => list === 'toolCalls' && entry.resultSeq === null;

/**
 * Leaves out all but the last `retain` entries of each list (and the tool calls still
 * open, which a later result must find), in place. Returns the compact state.
 */
export function trim(compact: CompactState, retain: number): CompactState {
  for (const list of LISTS) {
    const entries = compact.state[list] as any[];
    if (entries.length <= retain) continue;
    const d = compact.dropped[list];
    const cut = entries.length - retain;
    const kept: any[] = [];
    for (let i = 0; i < cut; i++) {
      const e = entries[i];
      if (isOpenCall(list, e)) {
        kept.push(e);
        continue;
      }
      d.minSeq = d.count === 0 ? seqOf(list, e) : Math.min(d.minSeq, seqOf(list, e));
      d.maxSeq = Math.max(d.maxSeq, lastSeqOf(list, e));
      d.count += 1;
    }
    (compact.state[list] as any[]) = kept.concat(entries.slice(cut));
  }
  return compact;
}

/**
 * Folds one event onto a compact state, in place (as `evolve` does). Null when the
 * result can no longer be known without the dropped entries: a retraction whose range
 * takes some of them but not all.
 */
export function evolveCompact(compact: CompactState, event: VaultEvent): CompactState | null {
  if (event.type === 'retraction') {
    const { fromSeq, toSeq } = event.data as { fromSeq: number; toSeq: number };
    for (const list of RETRACTABLE) {
      const d = compact.dropped[list];
      if (d.count === 0 || toSeq < d.minSeq || fromSeq > d.maxSeq) continue; // none of them touched
      if (fromSeq <= d.minSeq && toSeq >= d.maxSeq) compact.dropped[list] = none(); // all of them gone
      else return null;
    }
  }
  const marks = compact.landmarks;
  if (marks) {
    marks.last[event.type] = event.seq;
    const role = (event.data as { role?: unknown }).role;
    if (event.type === 'message' && (role === 'system' || role === 'developer')) marks.system.push(event.seq);
  }
  compact.state = evolve(compact.state, event);
  return compact;
}

/**
 * The last `size` entries of each list, with how many it left out, or null when the
 * compact state does not hold them: a list shorter than the window that dropped entries,
 * or one whose entries newer than everything dropped are fewer than the window.
 */
export function windowOf(compact: CompactState, size: number): (AgentState & { window: StateWindow }) | null {
  const omitted = {} as Record<ListName, number>;
  const lists = {} as Record<ListName, unknown[]>;
  for (const list of LISTS) {
    const entries = compact.state[list] as any[];
    const d = compact.dropped[list];
    if (d.count > 0) {
      // Kept open calls can sit among the dropped ones: only entries newer than all of them are in order.
      let newer = 0;
      for (let i = entries.length - 1; i >= 0 && seqOf(list, entries[i]) > d.maxSeq && newer < size; i--) newer++;
      if (newer < size) return null;
    }
    const shown = entries.slice(Math.max(0, entries.length - size));
    lists[list] = shown;
    omitted[list] = d.count + entries.length - shown.length;
  }
  return { ...compact.state, ...(lists as Pick<AgentState, ListName>), window: { size, omitted } };
}

/**
 * Folds events onto a compact state up to a point, trimming as it goes so memory holds
 * about `2 × retain` entries of each list whatever the session's length. Null as for
 * `evolveCompact`.
 */
export async function replayCompact(
  compact: CompactState,
  events: EventSource,
  point: { atSeq?: number; at?: Date },
  retain: number,
): Promise<CompactState | null> {
  let c: CompactState | null = compact;
  // Trimmed once a list grows `retain` past its last trim (open calls are kept, so a trim may leave more than `retain`).
  let limit = 2 * retain;
  for await (const chunk of chunksOf(events)) {
    for (const event of chunk) {
      if (isPast(event, point)) return c;
      c = evolveCompact(c, event);
      if (!c) return null;
      const s = c.state;
      if (s.messages.length > limit || s.toolCalls.length > limit || s.agentItems.length > limit || s.modelErrors.length > limit) {
        trim(c, retain);
        limit = Math.max(2 * retain, ...LISTS.map((l) => s[l].length + retain));
      }
    }
  }
  return c;
}
