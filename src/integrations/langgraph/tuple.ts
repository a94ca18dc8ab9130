import type { VaultEvent } from '../../domain';

/**
 * Pure assembly of LangGraph checkpoint tuples from vault events, apart from reading and
 * deserialising (saver.ts does both). A `graph_checkpoint` event holds the values of the
 * channels that changed (blobs) and, for the others, the seq of the checkpoint event that
 * holds each one's value at the version this checkpoint has (refs).
 */

/** A value as LangGraph's serializer wrote it: type tag and base64 bytes. */
export interface Serialized {
  t: string;
  b: string;
}

export interface StoredCheckpoint {
  seq: number;
  threadId: string;
  ns: string;
  checkpointId: string;
  parentId: string | null;
  checkpoint: Serialized;
  metadata: Serialized;
  blobs: Record<string, { version: string | number; value: Serialized }>;
  refs: Record<string, { version: string | number; seq: number }>;
}

export interface StoredWrite {
  taskId: string;
  taskPath: string;
  idx: number;
  channel: string;
  value: Serialized;
}

export function asCheckpoint(e: VaultEvent): StoredCheckpoint | null {
  if (e.type !== 'graph_checkpoint') return null;
  const d = e.data as Omit<StoredCheckpoint, 'seq'>;
  return { seq: e.seq, threadId: d.threadId, ns: d.ns, checkpointId: d.checkpointId, parentId: d.parentId, checkpoint: d.checkpoint, metadata: d.metadata, blobs: d.blobs, refs: d.refs };
}

/** The writes of a `graph_writes` event, when it is for checkpoint `id` of namespace `ns`. */
export function writesFor(e: VaultEvent, ns: string, id: string): StoredWrite[] {
  if (e.type !== 'graph_writes') return [];
  const d = e.data as { ns: string; checkpointId: string; taskId: string; taskPath: string; writes: { idx: number; channel: string; value: Serialized }[] };
  if (d.ns !== ns || d.checkpointId !== id) return [];
  return d.writes.map((w) => ({ taskId: d.taskId, taskPath: d.taskPath, idx: w.idx, channel: w.channel, value: w.value }));
}

/**
 * A checkpoint's pending writes as LangGraph reads them, from its writes in append order:
 * a regular write (idx ≥ 0) of a task is kept as first stored, as LangGraph's own savers
 * do (a retried task does not overwrite); a special one (idx < 0: error, interrupt) as
 * last stored. Then sorted by `writesSortKey` (task path, task id, idx) with LangGraph's
 * own comparator, passed in so this module needs no LangGraph import.
 */
export function orderWrites<K>(writes: StoredWrite[], sortKey: (w: StoredWrite) => K, compare: (a: K, b: K) => number): StoredWrite[] {
  const kept = new Map<string, StoredWrite>();
  for (const w of writes) {
    const key = JSON.stringify([w.taskId, w.idx]);
    if (w.idx >= 0 && kept.has(key)) continue;
    kept.set(key, w);
  }
  return [...kept.values()]
    .map((w) => ({ w, k: sortKey(w) }))
    .sort((a, b) => compare(a.k, b.k))
    .map(({ w }) => w);
}

/**
 * Where each channel's value is for a new checkpoint: the channels in `newVersions` are
 * its own blobs; every other channel of `channelVersions` points at the event that holds
 * it at that version — the parent itself or what the parent points at, when the version
 * matches, else what `search` finds (an older ancestor, a fork), else nowhere (the channel
 * has no value, as in LangGraph's own savers).
 */
export function locateChannels(
  channelVersions: Record<string, string | number>,
  newVersions: Record<string, string | number>,
  parent: StoredCheckpoint | null,
  search: (channel: string, version: string | number) => number | null,
): StoredCheckpoint['refs'] {
  const refs: StoredCheckpoint['refs'] = {};
  const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
  for (const [channel, version] of Object.entries(channelVersions)) {
    if (own(newVersions, channel)) continue;
    let seq: number | null = null;
    if (parent && own(parent.blobs, channel) && parent.blobs[channel]!.version === version) seq = parent.seq;
    else if (parent && own(parent.refs, channel) && parent.refs[channel]!.version === version) seq = parent.refs[channel]!.seq;
    seq ??= search(channel, version);
    if (seq !== null) refs[channel] = { version, seq };
  }
  return refs;
}

/** Checkpoints newest first, as LangGraph lists them: by checkpoint id, descending. */
export function newestFirst(a: StoredCheckpoint, b: StoredCheckpoint): number {
  return a.checkpointId < b.checkpointId ? 1 : a.checkpointId > b.checkpointId ? -1 : 0;
}
