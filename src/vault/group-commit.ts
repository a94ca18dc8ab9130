import { appendEvents, appendGroup, type GroupPart, type Store } from '../store';

/** Rows one group statement carries at most; the first part of a group goes in whatever its size. */
const GROUP_ROWS = 1000;
/** Sessions one group statement carries at most. */
const GROUP_PARTS = 64;

interface Waiting {
  part: GroupPart;
  resolve(ok: boolean): void;
  reject(e: unknown): void;
}

/**
 * Group commit. Appends that different sessions of one tenant make while a statement of
 * that tenant is in flight wait for it, then go to the database together: one statement
 * (session_vault_append_group), one round trip, one commit. A lone append goes at once,
 * alone, as it always did (session_vault_append), so a single writer waits for nobody.
 *
 * Each part stays atomic and is acknowledged only after the commit that holds it: a
 * group is one statement, so a crash mid-group leaves none of it. One part whose head
 * moved is answered false (its caller reloads and retries) while the others commit. When
 * the group statement fails as a whole (a concurrent writer's idempotency key, say),
 * nothing of it was written, and each part is written again on its own, so each caller
 * gets its own answer or its own error and no other part's.
 *
 * The caller holds its session's lock (vault/append.ts), so one session has at most one
 * part waiting or in flight.
 */
export class GroupCommit {
  /** The parts waiting, by tenant; a tenant is here while its drain runs. */
  readonly #queues = new Map<string, Waiting[]>();

  constructor(private readonly store: Store) {}

  /** Writes one session's batch; resolves after commit with false when its head had moved. */
  write(tenant: string, part: GroupPart): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const queue = this.#queues.get(tenant);
      if (queue) {
        queue.push({ part, resolve, reject }); // a statement is in flight: wait for it, then go together
        return;
      }
      const started = [{ part, resolve, reject }];
      this.#queues.set(tenant, started);
      void this.#drain(tenant, started);
    });
  }

  /**
   * Sends the tenant's waiting parts a group at a time until none waits: one statement of
   * a tenant in flight at once (measured here: two or three at once gained nothing). Never
   * rejects: #alone and #together answer every part.
   */
  async #drain(tenant: string, queue: Waiting[]): Promise<void> {
    while (queue.length > 0) {
      const group = takeGroup(queue);
      if (group.length === 1) await this.#alone(tenant, group[0]!);
      else await this.#together(tenant, group);
    }
    this.#queues.delete(tenant);
  }

  async #together(tenant: string, group: Waiting[]): Promise<void> {
    let results: boolean[];
    try {
      results = await appendGroup(this.store, tenant, group.map((w) => w.part));
    } catch {
      // Nothing of the group was written: each part again on its own, for its own answer.
      await Promise.all(group.map((w) => this.#alone(tenant, w)));
      return;
    }
    group.forEach((w, i) => w.resolve(results[i]!));
  }

  async #alone(tenant: string, w: Waiting): Promise<void> {
    const { session, expectedSeq, rows, checkpoint } = w.part;
    try {
      w.resolve(await appendEvents(this.store, tenant, session, expectedSeq, rows, checkpoint));
    } catch (e) {
      w.reject(e);
    }
  }
}

/** The longest prefix of the queue within GROUP_ROWS rows and GROUP_PARTS parts (at least one part), removed from it. */
function takeGroup(queue: Waiting[]): Waiting[] {
  let rows = queue[0]!.part.rows.length;
  let n = 1;
  while (n < queue.length && n < GROUP_PARTS && rows + queue[n]!.part.rows.length <= GROUP_ROWS) {
    rows += queue[n]!.part.rows.length;
    n++;
  }
  return queue.splice(0, n);
}
