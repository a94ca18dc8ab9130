import type { SecretBytes } from '../crypto';
import type { VaultEvent } from '../domain';
import type { CompactState } from '../replay';

/**
 * Decrypted events a reader keeps between reads of one session (a model context's tail
 * and landmarks, src/integrations/openai/context-events.ts; a LangGraph thread's events
 * from its latest checkpoint on), in seq order, the last at `seq` with hash `hash`.
 * Private copies: nobody else holds or changes them.
 */
export interface HeldEvents {
  seq: number;
  hash: string;
  events: readonly VaultEvent[];
}

/**
 * Where, in events in seq order, the run of consecutive seqs that ends at `head` starts
 * (an index), or -1 when the last event is not at `head`. Events before that index are
 * held apart from it (landmarks kept from earlier, past a gap). What a reader of held
 * events plus the events after them may walk back over from the head.
 */
export function runToHead(events: readonly VaultEvent[], head: number): number {
  if (events[events.length - 1]?.seq !== head) return -1;
  let i = events.length - 1;
  while (i > 0 && events[i - 1]!.seq === events[i]!.seq - 1) i--;
  return i;
}

/** What an appender needs of a session: its data key and where its chain ends. */
export interface OpenSession {
  agent: string | null;
  status: 'active' | 'archived' | 'purged';
  dataKey: SecretBytes;
  dataKeyVersion: number;
  headSeq: number;
  headHash: Uint8Array | null;
  lastAt: Date | null;
  /** The head as read from the database, not yet checked as signed (vault/signed-head.ts); false once this process appended or checked. */
  headFromStore: boolean;
  /** The last head a read may reach without checking it again: one this process appended and signed, or checked (signed-head.ts requireReadableHead). */
  readableHead: { seq: number; hash: Uint8Array } | null;
}

/**
 * Recently used sessions, least recently used evicted past `capacity`. The head is a
 * hint: the database's optimistic check is the truth, and a stale head only costs a
 * reload. An evicted data key is dropped, not zeroed, because an in-flight operation
 * may still hold it (the garbage collector reclaims it); keys still cached are zeroed
 * when the vault closes.
 *
 * Beside them, the latest states of up to `stateCapacity` sessions, as this process
 * folded and checked them (src/vault/snapshots.ts): a read that holds one asks the
 * database only for the events after it. A held state is never trusted blindly: it is
 * used only while the event at its seq still has the hash it folded up to. Forgetting a
 * session (`delete`, `clear`) forgets its state too. Held events (a model context's, a
 * LangGraph thread's) are kept the same way, as many sessions' at most, and forgotten
 * with the session.
 */
export class SessionCache {
  private readonly entries = new Map<string, OpenSession>();
  private readonly states = new Map<string, CompactState>();
  private readonly events = new Map<string, HeldEvents>();

  constructor(
    private readonly capacity = 1024,
    private readonly stateCapacity = 32,
  ) {}

  get(tenant: string, session: string): OpenSession | undefined {
    const k = key(tenant, session);
    const v = this.entries.get(k);
    if (v) {
      this.entries.delete(k);
      this.entries.set(k, v);
    }
    return v;
  }

  set(tenant: string, session: string, value: OpenSession): void {
    const k = key(tenant, session);
    this.entries.delete(k);
    this.entries.set(k, value);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Forgets a session: its key, head and held state. */
  delete(tenant: string, session: string): void {
    this.entries.delete(key(tenant, session));
    this.states.delete(key(tenant, session));
    this.events.delete(key(tenant, session));
  }

  /** Forgets every session (their rows changed underneath, e.g. by a rewrap). Keys are dropped, not zeroed: in-flight reads may hold them. */
  clear(): void {
    this.entries.clear();
    this.states.clear();
    this.events.clear();
  }

  /** Zeroes every cached data key and drops every held state. */
  dispose(): void {
    for (const v of this.entries.values()) v.dataKey.dispose();
    this.entries.clear();
    this.states.clear();
    this.events.clear();
  }

  /**
   * Takes the session's held state out of the cache: the taker owns it (a fold changes a
   * state in place), so two reads at once never fold onto the same one. Undefined when
   * none is held, or none may be (`stateCapacity` 0).
   */
  takeState(tenant: string, session: string): CompactState | undefined {
    const k = key(tenant, session);
    const v = this.states.get(k);
    if (v) this.states.delete(k);
    return v;
  }

  /**
   * Holds a session's latest state, which the caller gives up (nobody else may hold or
   * change it). An older one than the state already held is dropped instead; past
   * `stateCapacity` the least recently held go.
   */
  holdState(tenant: string, session: string, compact: CompactState): void {
    if (this.stateCapacity === 0) return;
    const k = key(tenant, session);
    const held = this.states.get(k);
    if (held && held.state.lastSeq > compact.state.lastSeq) return;
    this.states.delete(k);
    this.states.set(k, compact);
    bound(this.states, this.stateCapacity);
  }

  /** The events held for a session, if any. They are never changed: a reader copies what it hands out. */
  heldEvents(tenant: string, session: string): HeldEvents | undefined {
    return this.events.get(key(tenant, session));
  }

  /** Holds a session's events (the caller gives them up), unless newer ones are held; past `stateCapacity` the least recently held go. */
  holdEvents(tenant: string, session: string, held: HeldEvents): void {
    if (this.stateCapacity === 0) return;
    const k = key(tenant, session);
    const had = this.events.get(k);
    if (had && had.seq > held.seq) return;
    this.events.delete(k);
    this.events.set(k, held);
    bound(this.events, this.stateCapacity);
  }
}

/** Drops the oldest entries of a map past `capacity`. */
function bound(map: Map<string, unknown>, capacity: number): void {
  while (map.size > capacity) map.delete(map.keys().next().value as string);
}

const key = (tenant: string, session: string) => `${tenant}\u0000${session}`;
