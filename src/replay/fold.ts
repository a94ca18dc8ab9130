import { chunksOf, type EventSource, type VaultEvent } from '../domain';
import { evolve, initialState, type AgentState } from './state';

/** Where to stop replaying: after a seq, or before the first event later than a time. */
export interface ReplayPoint {
  atSeq?: number;
  at?: Date;
}

/** True when `event` lies beyond the replay point, so folding stops. */
export function isPast(event: VaultEvent, point: ReplayPoint): boolean {
  if (point.atSeq !== undefined && event.seq > point.atSeq) return true;
  if (point.at !== undefined && event.at.getTime() > point.at.getTime()) return true;
  return false;
}

/**
 * Folds a stream of events into agent state, up to an optional point. Events arrive in
 * seq order (times within a session are non-decreasing, which append guarantees), so
 * the state "as of" a point is the fold of the prefix before it. The vault's streams are
 * folded by the arrays they decrypt (EventStream.chunks): an await an array, not an event.
 */
export async function replay(
  meta: { tenant: string; session: string; agent: string | null },
  events: EventSource,
  point: ReplayPoint = {},
): Promise<AgentState> {
  return replayFrom(initialState(meta), events, point);
}

/**
 * Folds events into a given state (a snapshot's, which the fold then owns), up to an
 * optional point: `replay` from a later start. The events must follow the state's last seq.
 */
export async function replayFrom(state: AgentState, events: EventSource, point: ReplayPoint = {}): Promise<AgentState> {
  for await (const chunk of chunksOf(events)) {
    for (const event of chunk) {
      if (isPast(event, point)) return state;
      state = evolve(state, event);
    }
  }
  return state;
}
