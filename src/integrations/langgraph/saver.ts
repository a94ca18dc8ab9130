import {
  BaseCheckpointSaver,
  TASKS,
  WRITES_IDX_MAP,
  compareWritesSortKeys,
  copyCheckpoint,
  getCheckpointId,
  maxChannelVersion,
  writesSortKey,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  type PendingWrite,
  type SerializerProtocol,
} from '@langchain/langgraph-checkpoint';
import type { RunnableConfig } from '@langchain/core/runnables';
import { collectEvents, type VaultEvent } from '../../domain';
import { InputError, VaultError } from '../../errors';
import { copyEvents } from '../../replay';
import type { Logger } from '../../observability';
import { runToHead, type Vault, type VaultSession } from '../../vault';
import { callKeys, recordKeyed, type KeyedEvent } from '../record';
import { isThreadSession, sessionOfThread } from './thread';
import { reader } from './serde';
import { asCheckpoint, locateChannels, newestFirst, orderWrites, writesFor, type Serialized, type StoredCheckpoint, type StoredWrite } from './tuple';

export interface VaultCheckpointSaverOptions {
  vault: Vault;
  /** The tenant whose sessions hold the threads (its key seals them). */
  tenant: string;
  /** The operator id `deleteThread` records in the access trail. Default `langgraph`. */
  actor?: string;
  /** Session ids are `<prefix>.<thread id>` (or `<prefix>h.<sha-256>`). Default `lg`. */
  prefix?: string;
  /** LangGraph's serializer; default its JsonPlusSerializer. */
  serde?: SerializerProtocol;
  /** Where a put sent again while the database is unreachable is logged (warn). Default: nowhere. */
  logger?: Logger;
}

/** The tail read back from a thread's head for its latest checkpoint (a superstep is a checkpoint and its tasks' writes); further back it doubles. */
const FIRST_WINDOW = 4;
/** Checkpoints this process put or read, by (session, namespace, id): their place, to chain a child to its parent without a search. */
const LOCATED_CACHE = 1024;

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/**
 * LangGraph's checkpointer on the vault: each thread a session of one tenant, each
 * checkpoint and each task's pending writes an event, sealed and chained like any other
 * (`verify`, export, retention, holds and shredding cover threads with no special case).
 * Only the event type and time are in clear: thread ids, namespaces, checkpoint ids,
 * metadata and channel values are all sealed.
 *
 * A checkpoint stores the values of the channels that changed (as LangGraph's Postgres
 * saver does) and, for every other channel, the seq of the checkpoint event holding its
 * value at that version, so the latest checkpoint is read from the thread's tail plus one
 * event per carried channel: constant in the thread's length. `deleteThread` is
 * crypto-shredding, recorded in the access trail as operator access, refused under a
 * legal hold. `put` and `putWrites` carry idempotency keys new to the call and are sent
 * again while the database is unreachable (integrations/record.ts): a failover under
 * one neither loses the checkpoint nor stores it twice. docs/langgraph.md.
 */
export class VaultCheckpointSaver extends BaseCheckpointSaver {
  readonly tenant: string;
  readonly #vault: Vault;
  readonly #actor: string;
  readonly #prefix: string;
  readonly #logger: Logger | undefined;
  readonly #located = new Map<string, StoredCheckpoint>();
  readonly #holders = new Map<string, StoredCheckpoint>();
  #reader: { serde: SerializerProtocol; loads: (s: Serialized) => Promise<unknown> } | undefined;

  constructor(options: VaultCheckpointSaverOptions) {
    super(options.serde);
    if (!options?.vault || typeof options.tenant !== 'string') throw new InputError('INVALID_INPUT', 'VaultCheckpointSaver takes { vault, tenant }');
    const prefix = options.prefix ?? 'lg';
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$/.test(prefix)) throw new InputError('INVALID_INPUT', 'prefix is 1..16 letters, digits, _ or -');
    this.#vault = options.vault;
    this.tenant = options.tenant;
    this.#actor = options.actor ?? 'langgraph';
    this.#prefix = prefix;
    this.#logger = options.logger;
  }

  /** The vault session holding a thread (for `session-vault events`, export, holds). */
  sessionOf(threadId: string): string {
    return sessionOfThread(threadId, this.#prefix);
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = config.configurable?.thread_id;
    if (threadId === undefined) return undefined;
    const ns: string = config.configurable?.checkpoint_ns ?? '';
    const session = this.session(threadId);
    const found = await readable(this.find(session, ns, getCheckpointId(config) || undefined));
    if (!found) return undefined;
    return readable(this.tuple(found.checkpoint, found.writes, (seqs) => this.checkpointsAt(session, seqs), async (parentId) => (await this.find(session, ns, parentId))?.writes ?? []));
  }

  async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options;
    let remaining = options.limit;
    const threadId = config.configurable?.thread_id;
    const nsWanted: string | undefined = config.configurable?.checkpoint_ns;
    const idWanted: string | undefined = config.configurable?.checkpoint_id;
    const beforeId: string | undefined = before?.configurable?.checkpoint_id;
    const sessions =
      threadId !== undefined
        ? [sessionOfThread(String(threadId), this.#prefix)]
        : (await this.#vault.sessions(this.tenant)).map((s) => s.session).filter((s) => isThreadSession(s, this.#prefix));
    for (const id of sessions) {
      // A whole thread, read once: its checkpoints, their writes, and every blob they point at.
      const events = await readable(collectEvents(this.#vault.session(this.tenant, id).events()));
      if (!events) continue; // never written, or shredded: deleted
      const bySeq = new Map<number, StoredCheckpoint>();
      const latest = new Map<string, StoredCheckpoint>();
      for (const e of events) {
        const c = asCheckpoint(e);
        if (c) {
          bySeq.set(c.seq, c);
          latest.set(JSON.stringify([c.ns, c.checkpointId]), c); // a re-put id: the last one stands
        }
      }
      const writesOf = (ns: string, cid: string) => events.flatMap((e) => writesFor(e, ns, cid));
      const chosen = [...latest.values()]
        .filter((c) => (nsWanted === undefined || c.ns === nsWanted) && (!idWanted || c.checkpointId === idWanted) && (!beforeId || c.checkpointId < beforeId))
        .sort(newestFirst);
      for (const c of chosen) {
        if (filter && Object.keys(filter).length > 0) {
          const metadata = (await this.loads(c.metadata)) as Record<string, unknown>;
          if (!Object.entries(filter).every(([k, v]) => metadata?.[k] === v)) continue;
        }
        if (remaining !== undefined) {
          if (remaining <= 0) return;
          remaining -= 1;
        }
        yield await this.tuple(c, writesOf(c.ns, c.checkpointId), async (seqs) => new Map(seqs.flatMap((q) => (bySeq.has(q) ? [[q, bySeq.get(q)!] as const] : []))), async (parentId) => writesOf(c.ns, parentId));
      }
    }
  }

  async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, newVersions: ChannelVersions): Promise<RunnableConfig> {
    const threadId = config.configurable?.thread_id;
    if (threadId === undefined) throw new InputError('INVALID_INPUT', 'a LangGraph checkpoint needs configurable.thread_id');
    const ns: string = config.configurable?.checkpoint_ns ?? '';
    const parentId: string | null = config.configurable?.checkpoint_id ?? null;
    const session = this.session(threadId);
    const prepared = copyCheckpoint(checkpoint);
    const blobs: StoredCheckpoint['blobs'] = {};
    for (const [channel, version] of Object.entries(newVersions)) {
      if (own(prepared.channel_values, channel) && prepared.channel_values[channel] !== undefined) {
        blobs[channel] = { version, value: await this.dumps(prepared.channel_values[channel]) };
      }
    }
    const refs = await this.refsFor(session, ns, prepared.channel_versions, newVersions, parentId);
    const stored: Omit<StoredCheckpoint, 'seq'> = {
      threadId: String(threadId),
      ns,
      checkpointId: prepared.id,
      parentId,
      checkpoint: await this.dumps({ ...prepared, channel_values: {} }),
      metadata: await this.dumps(metadata),
      blobs,
      refs,
    };
    const appended = await this.record(session, { type: 'graph_checkpoint', ...stored, idempotencyKey: callKeys('langgraph')('checkpoint') });
    this.remember(session, { seq: appended.firstSeq, ...stored });
    return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: prepared.id } };
  }

  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath = ''): Promise<void> {
    const threadId = config.configurable?.thread_id;
    const checkpointId = config.configurable?.checkpoint_id;
    if (threadId === undefined) throw new InputError('INVALID_INPUT', 'pending writes need configurable.thread_id');
    if (checkpointId === undefined) throw new InputError('INVALID_INPUT', 'pending writes need configurable.checkpoint_id');
    if (writes.length === 0) return;
    const stored = await Promise.all(
      writes.map(async ([channel, value], idx) => ({ idx: WRITES_IDX_MAP[channel] ?? idx, channel, value: await this.dumps(value) })),
    );
    await this.record(this.session(threadId), {
      type: 'graph_writes',
      ns: config.configurable?.checkpoint_ns ?? '',
      checkpointId,
      taskId,
      taskPath,
      writes: stored,
      idempotencyKey: callKeys('langgraph')('writes'),
    });
  }

  /**
   * Crypto-shreds the thread's session: its key is destroyed, so no copy of its events
   * (database, backup, archive) opens again. Recorded in the access trail as operator
   * access by the saver's actor; refused (LEGAL_HOLD) while the session is under a hold.
   * A deleted thread id cannot be reused: its session stays, closed.
   */
  async deleteThread(threadId: string): Promise<void> {
    const id = sessionOfThread(threadId, this.#prefix);
    for (const cache of [this.#located, this.#holders]) for (const key of [...cache.keys()]) if (key.startsWith(`${id}\u0000`)) cache.delete(key);
    try {
      await this.#vault.operator({ actor: this.#actor, reason: 'LangGraph deleteThread' }).shred(this.tenant, id);
    } catch (e) {
      // Never written (nothing to delete), or deleted already.
      if (e instanceof VaultError && (e.code === 'UNKNOWN_SESSION' || e.code === 'KEY_DESTROYED')) return;
      throw e;
    }
  }

  private session(threadId: unknown): VaultSession {
    if (typeof threadId !== 'string' || threadId === '') throw new InputError('INVALID_INPUT', 'configurable.thread_id is a non-empty string');
    return this.#vault.session(this.tenant, sessionOfThread(threadId, this.#prefix));
  }

  /** Appends one keyed event, sent again while the database is unreachable (integrations/record.ts). */
  private record(session: VaultSession, event: KeyedEvent) {
    return recordKeyed(session, [event], { agent: 'langgraph', op: 'langgraph.record', ...(this.#logger ? { logger: this.#logger } : {}) });
  }

  /**
   * A checkpoint of `ns` (the one with `id`, else the latest) and the pending writes
   * stored against it, read back from the thread's head in doubling windows: the latest
   * is in the first window whatever the thread's length.
   */
  private async find(session: VaultSession, ns: string, id: string | undefined): Promise<{ checkpoint: StoredCheckpoint; writes: StoredWrite[] } | null> {
    if (id === undefined) {
      const held = await this.latestHeld(session, ns);
      if (held) return held;
    }
    const later: VaultEvent[] = []; // graph_writes after the place reached, newest first
    const walked: VaultEvent[] = []; // every event from the head back to it, newest first
    for await (const e of session.eventsBackward(FIRST_WINDOW)) {
      walked.push(e);
      const c = asCheckpoint(e);
      if (c && c.ns === ns && (id === undefined || c.checkpointId === id)) {
        this.remember(session, c);
        if (id === undefined) session.holdEvents(copyEvents(walked.reverse())); // the next latest read starts from them
        return { checkpoint: c, writes: later.reverse().flatMap((w) => writesFor(w, ns, c.checkpointId)) };
      }
      if (e.type === 'graph_writes') later.push(e);
    }
    return null;
  }

  /**
   * The latest checkpoint of `ns` from the events this process holds for the thread
   * (VaultSession.heldEvents: a previous latest read kept them) and those after them,
   * which one statement returns checked against the chain from the last one held
   * (VaultSession.eventsSince): no other event decrypted. Null when that read cannot give
   * them, or meets a gap before a checkpoint of `ns`; the caller then reads the tail.
   */
  private async latestHeld(session: VaultSession, ns: string): Promise<{ checkpoint: StoredCheckpoint; writes: StoredWrite[] } | null> {
    const held = session.heldEvents();
    if (!held) return null;
    const since = await session.eventsSince({ seq: held.seq, hash: held.hash });
    if (!since) return null;
    const all = since.events.length > 0 ? [...held.events, ...since.events] : held.events;
    const start = runToHead(all, since.head); // only the run of consecutive events that ends at the head
    if (start < 0) return null;
    const later: VaultEvent[] = [];
    for (let i = all.length - 1; i >= start; i--) {
      const e = all[i]!;
      const c = asCheckpoint(e);
      if (c && c.ns === ns) {
        this.remember(session, c);
        session.holdEvents(all.slice(i)); // held again: the thread stays among the most recently read
        return { checkpoint: c, writes: later.reverse().flatMap((w) => writesFor(w, ns, c.checkpointId)) };
      }
      if (e.type === 'graph_writes') later.push(e);
    }
    return null;
  }

  /** The checkpoint events at `seqs` (holders of carried channels): immutable, so kept once read. */
  private async checkpointsAt(session: VaultSession, seqs: number[]): Promise<Map<number, StoredCheckpoint>> {
    const out = new Map<number, StoredCheckpoint>();
    const missing: number[] = [];
    for (const seq of new Set(seqs)) {
      const known = this.#holders.get(`${session.id}\u0000${seq}`);
      if (known) out.set(seq, known);
      else missing.push(seq);
    }
    if (missing.length > 0) {
      for (const e of (await session.eventsAt(missing)).events) {
        const c = asCheckpoint(e);
        if (!c) continue;
        out.set(e.seq, c);
        this.#holders.set(`${session.id}\u0000${e.seq}`, c);
        if (this.#holders.size > LOCATED_CACHE) this.#holders.delete(this.#holders.keys().next().value!);
      }
    }
    return out;
  }

  /** Where a new checkpoint's unchanged channels are: through its parent, else by searching the thread. */
  private async refsFor(session: VaultSession, ns: string, versions: ChannelVersions, newVersions: ChannelVersions, parentId: string | null): Promise<StoredCheckpoint['refs']> {
    const parent = parentId === null ? null : (this.#located.get(key(session.id, ns, parentId)) ?? (await this.find(session, ns, parentId))?.checkpoint ?? null);
    const first = locateChannels(versions, newVersions, parent, () => null);
    const unresolved = Object.keys(versions).filter((ch) => !own(newVersions, ch) && !own(first, ch));
    if (unresolved.length === 0) return first;
    // Not through the parent (a fork, a put without one): the newest blob at that version in the thread.
    const found = new Map<string, number>();
    if ((await session.headSeq()) > 0) {
      for await (const e of session.events()) {
        const c = asCheckpoint(e);
        if (!c || c.ns !== ns) continue;
        for (const ch of unresolved) if (own(c.blobs, ch) && c.blobs[ch]!.version === versions[ch]) found.set(ch, c.seq);
      }
    }
    return locateChannels(versions, newVersions, parent, (ch) => found.get(ch) ?? null);
  }

  /** A stored checkpoint as LangGraph's tuple: values resolved, writes ordered, legacy pending sends migrated. */
  private async tuple(
    c: StoredCheckpoint,
    writes: StoredWrite[],
    at: (seqs: number[]) => Promise<Map<number, StoredCheckpoint>>,
    parentWrites: (parentId: string) => Promise<StoredWrite[]>,
  ): Promise<CheckpointTuple> {
    const checkpoint = (await this.loads(c.checkpoint)) as Checkpoint;
    const values: Record<string, unknown> = {};
    const carried = Object.entries(checkpoint.channel_versions).filter(([ch, v]) => !(own(c.blobs, ch) && c.blobs[ch]!.version === v) && own(c.refs, ch));
    const holders = carried.length > 0 ? await at(carried.map(([ch]) => c.refs[ch]!.seq)) : new Map<number, StoredCheckpoint>();
    for (const [channel, version] of Object.entries(checkpoint.channel_versions)) {
      let blob = own(c.blobs, channel) && c.blobs[channel]!.version === version ? c.blobs[channel]! : null;
      if (!blob && own(c.refs, channel)) {
        const holder = holders.get(c.refs[channel]!.seq);
        if (holder && own(holder.blobs, channel) && holder.blobs[channel]!.version === version) blob = holder.blobs[channel]!;
      }
      if (blob) values[channel] = await this.loads(blob.value);
    }
    checkpoint.channel_values = values;
    const pendingWrites = await this.pending(writes);
    if (checkpoint.v < 4 && c.parentId !== null) {
      // Checkpoints before format 4 kept pending sends as the parent's TASKS writes.
      const sends = (await this.pending(await parentWrites(c.parentId))).filter(([, channel]) => channel === TASKS).map(([, , value]) => value);
      checkpoint.channel_values[TASKS] = sends;
      const known = Object.values(checkpoint.channel_versions);
      checkpoint.channel_versions[TASKS] = known.length > 0 ? maxChannelVersion(...known) : this.getNextVersion(undefined);
    }
    const config = (id: string) => ({ configurable: { thread_id: c.threadId, checkpoint_ns: c.ns, checkpoint_id: id } });
    return {
      config: config(c.checkpointId),
      checkpoint,
      metadata: (await this.loads(c.metadata)) as CheckpointMetadata,
      pendingWrites,
      ...(c.parentId !== null ? { parentConfig: config(c.parentId) } : {}),
    };
  }

  private async pending(writes: StoredWrite[]): Promise<CheckpointPendingWrite[]> {
    const ordered = orderWrites(writes, (w) => writesSortKey(w.taskPath, w.taskId, w.idx), compareWritesSortKeys);
    return Promise.all(ordered.map(async (w): Promise<CheckpointPendingWrite> => [w.taskId, w.channel, await this.loads(w.value)]));
  }

  private remember(session: VaultSession, c: StoredCheckpoint): void {
    const k = key(session.id, c.ns, c.checkpointId);
    this.#located.delete(k);
    this.#located.set(k, c);
    if (this.#located.size > LOCATED_CACHE) this.#located.delete(this.#located.keys().next().value!);
  }

  private async dumps(value: unknown): Promise<Serialized> {
    const [t, bytes] = await this.serde.dumpsTyped(value);
    return { t, b: Buffer.from(bytes).toString('base64') };
  }

  private loads(s: Serialized): Promise<unknown> {
    if (this.#reader?.serde !== this.serde) this.#reader = { serde: this.serde, loads: reader(this.serde) }; // serde is a public field
    return this.#reader.loads(s);
  }
}

function key(session: string, ns: string, id: string): string {
  return `${session}\u0000${ns}\u0000${id}`;
}

/** A deleted (shredded) thread reads as absent, as LangGraph expects of a deleted thread. */
async function readable<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof VaultError && (e.code === 'KEY_DESTROYED' || e.code === 'UNKNOWN_SESSION')) return undefined;
    throw e;
  }
}
