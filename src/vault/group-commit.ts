import { answeredWithError, appendEvents, appendGroup, type GroupPart, type Store } from '../store';

/** Rows one group statement carries at most; the first part of a group goes in whatever its size. */
const GROUP_ROWS = 1000;
/** Sessions one group statement carries at most. */
const GROUP_PARTS = 64;
/** Statements of one tenant in flight at once. */
const IN_FLIGHT = 2;

interface Waiting {
  part: GroupPart;
  resolve(ok: boolean): void;
  reject(e: unknown): void;
}

/**
 * Group commit. Appends that different sessions of one tenant make at about the same
 * time go to the database together: one statement (session_vault_append_group), one round
 * trip, one commit. A lone append goes alone (session_vault_append), after only the
 * current tick, so a single writer waits for nobody.
 *
 * Parts are gathered until the end of the tick (process.nextTick, which runs once every
 * promise continuation queued so far has run): callers whose previous appends were
 * answered by one statement come back in the same tick, and go together again.
 * Up to two statements of a tenant are in flight at once. When both are free, the parts
 * waiting are split between them, so two cohorts of callers form: one seals its next
 * events while the other's statement runs, instead of every caller sealing, then every
 * caller waiting.
 *
 * Each part stays atomic and is acknowledged only after the commit that holds it: a
 * group is one statement, so a crash mid-group leaves none of it. One part whose head
 * moved is answered false (its caller reloads and retries) while the others commit. When
 * the group statement fails as a whole (a concurrent writer's idempotency key, say),
 * nothing of it was written, and each part is written again on its own, so each caller
 * gets its own answer or its own error and no other part's. When the connection fails
 * under it instead (a reset, a failover), the group may have committed with its answer
 * lost: every part then gets that error and none is written again, which could store it
 * twice. The callers learn what was stored by reading, or by sending their appends again
 * with idempotency keys.
 *
 * The caller holds its session's lock (vault/append.ts), so one session has at most one
 * part waiting or in flight, and two statements in flight never touch the same session.
 */
export class GroupCommit {
  /** By tenant, while it has parts waiting or in flight. */
  readonly #tenants = new Map<string, TenantQueue>();

  constructor(private readonly store: Store) {}

  /** Writes one session's batch; resolves after commit with false when its head had moved. */
  write(tenant: string, part: GroupPart): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let q = this.#tenants.get(tenant);
      if (!q) {
        q = { waiting: [], inFlight: 0, scheduled: false };
        this.#tenants.set(tenant, q);
      }
      q.waiting.push({ part, resolve, reject });
      this.#schedule(tenant, q);
    });
  }

  #schedule(tenant: string, q: TenantQueue): void {
    if (q.scheduled || q.inFlight >= IN_FLIGHT || q.waiting.length === 0) return;
    q.scheduled = true;
    process.nextTick(() => {
      q.scheduled = false;
      this.#send(tenant, q);
    });
  }

  /** Sends groups while a slot is free; with both free, the first takes half the parts waiting. */
  #send(tenant: string, q: TenantQueue): void {
    while (q.inFlight < IN_FLIGHT && q.waiting.length > 0) {
      const most = q.inFlight === 0 && q.waiting.length > 1 ? Math.ceil(q.waiting.length / 2) : q.waiting.length;
      const group = takeGroup(q.waiting, most);
      q.inFlight++;
      void (group.length === 1 ? this.#alone(tenant, group[0]!) : this.#together(tenant, group)).then(() => {
        q.inFlight--;
        if (q.inFlight === 0 && q.waiting.length === 0 && !q.scheduled) this.#tenants.delete(tenant);
        else this.#schedule(tenant, q);
      });
    }
  }

  /** Never rejects: every part is answered, together or, when the group fails as a whole, alone. */
  async #together(tenant: string, group: Waiting[]): Promise<void> {
    let results: boolean[];
    try {
      results = await appendGroup(this.store, tenant, group.map((w) => w.part));
    } catch (e) {
      if (!answeredWithError(e)) {
        // Unknown whether it committed: nothing is written again.
        for (const w of group) w.reject(e);
        return;
      }
      // The database refused it, so nothing of the group was written: each part again on its own, for its own answer.
      await Promise.all(group.map((w) => this.#alone(tenant, w)));
      return;
    }
    group.forEach((w, i) => w.resolve(results[i]!));
  }

  /** Never rejects: the part's own error goes to its caller. */
  async #alone(tenant: string, w: Waiting): Promise<void> {
    const { session, expectedSeq, rows, checkpoint } = w.part;
    try {
      w.resolve(await appendEvents(this.store, tenant, session, expectedSeq, rows, checkpoint));
    } catch (e) {
      w.reject(e);
    }
  }
}

interface TenantQueue {
  waiting: Waiting[];
  /** Statements of this tenant in flight, at most IN_FLIGHT. */
  inFlight: number;
  /** A send is due at the end of this tick. */
  scheduled: boolean;
}

/** The longest prefix of the queue within `most` parts, GROUP_ROWS rows and GROUP_PARTS parts (at least one part), removed from it. */
function takeGroup(queue: Waiting[], most: number): Waiting[] {
  let rows = queue[0]!.part.rows.length;
  let n = 1;
  while (n < queue.length && n < most && n < GROUP_PARTS && rows + queue[n]!.part.rows.length <= GROUP_ROWS) {
    rows += queue[n]!.part.rows.length;
    n++;
  }
  return queue.splice(0, n);
}
