import type { VaultEvent } from './stored';

/**
 * A session's decrypted events as the vault hands them out: one by one (`for await`), or
 * in the arrays it decrypted them in (`chunks()`: from `events()`, each at most about
 * 128 KiB of ciphertext and the event that crossed it; a state read's first array is the
 * events its one statement returned, at most a page), which a consumer walks with one
 * await an array instead of one an event.
 * The events are the same either way, in seq order. A stream is read once: it reads the
 * session as it is consumed, and a second iteration yields nothing.
 */
export interface EventStream extends AsyncIterable<VaultEvent> {
  chunks(): AsyncIterable<readonly VaultEvent[]>;
}

/** Events as a fold takes them: any iterable of events, or an EventStream, taken by its chunks. */
export type EventSource = AsyncIterable<VaultEvent> | Iterable<VaultEvent>;

/**
 * An EventStream over a generator of arrays of events. Both ways of reading it draw from
 * that one generator, so the stream is read once, whichever way (an operator's access is
 * recorded once for it: it must not decrypt the session again when iterated again).
 */
export function eventStream(source: AsyncGenerator<readonly VaultEvent[]>): EventStream {
  return {
    chunks: () => source,
    async *[Symbol.asyncIterator]() {
      for await (const chunk of source) for (const e of chunk) yield e;
    },
  };
}

/**
 * A source's events in arrays: an EventStream's own chunks, an array as itself, any other
 * iterable one event an array.
 */
export function chunksOf(source: EventSource): AsyncIterable<readonly VaultEvent[]> | Iterable<readonly VaultEvent[]> {
  if (isEventStream(source)) return source.chunks();
  if (Array.isArray(source)) return [source as readonly VaultEvent[]];
  return Symbol.asyncIterator in source ? singlesOf(source as AsyncIterable<VaultEvent>) : singlesOfSync(source as Iterable<VaultEvent>);
}

function isEventStream(source: EventSource): source is EventStream {
  return typeof (source as Partial<EventStream>).chunks === 'function' && Symbol.asyncIterator in source;
}

async function* singlesOf(source: AsyncIterable<VaultEvent>): AsyncGenerator<readonly VaultEvent[]> {
  for await (const e of source) yield [e];
}

function* singlesOfSync(source: Iterable<VaultEvent>): Generator<readonly VaultEvent[]> {
  for (const e of source) yield [e];
}

/** Every event of a source, in an array (an EventStream's taken by its chunks). */
export async function collectEvents(source: EventSource): Promise<VaultEvent[]> {
  const out: VaultEvent[] = [];
  for await (const chunk of chunksOf(source)) for (const e of chunk) out.push(e);
  return out;
}
