import { JsonPlusSerializer, type SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { copyJson, type Json } from '../../replay';
import type { Serialized } from './tuple';

const utf8 = new TextDecoder(); // what JsonPlusSerializer decodes with (a leading BOM dropped, bad bytes replaced)

/**
 * Reads a stored value back with the saver's serializer.
 *
 * LangGraph's JsonPlusSerializer parses its JSON, then walks the whole result with an
 * async function, awaiting every member, array item and string: a promise per node, on
 * every checkpoint, channel value and write of every read. That walk was the largest
 * client cost of a latest read. Two things make it do more than rebuild the parsed JSON:
 * - every record it revives (undefined, Set, Map, RegExp, Error, bytes, a LangChain
 *   object) is an object with a member named "lc";
 * - a member named "__proto__" is assigned, so it becomes the copy's prototype where
 *   JSON.parse keeps it as an own member.
 * So with that serializer itself (not a subclass, which may revive otherwise), JSON with
 * neither name anywhere is returned as JSON.parse gives it, as a copy of the parse kept
 * for that stored value: fresh objects equal to what the walk returns. Anything else, and
 * every other serializer, goes through `loadsTyped` on every read.
 */
export function reader(serde: SerializerProtocol): (s: Serialized) => Promise<unknown> {
  if (Object.getPrototypeOf(serde) !== JsonPlusSerializer.prototype) return (s) => serde.loadsTyped(s.t, bytesOf(s));
  // Parsed once for each stored value this process holds (a thread's held events are
  // read again on every latest read) and handed out as a copy, so nothing a caller
  // changes in what it was given reaches the next read. A value the walk would revive is
  // not kept: it goes through the serializer on every read.
  const parsedOf = new WeakMap<Serialized, Json>();
  return async (s) => {
    if (s.t !== 'json') return serde.loadsTyped(s.t, bytesOf(s));
    let parsed = parsedOf.get(s);
    if (parsed === undefined) {
      const text = utf8.decode(Buffer.from(s.b, 'base64'));
      const json = JSON.parse(text) as Json;
      if (!revivesNothing(json)) return serde.loadsTyped('json', text);
      parsedOf.set(s, json);
      parsed = json;
    }
    return copyJson(parsed);
  };
}

/** The stored bytes as the serializer was given them when it wrote them: a plain Uint8Array (bytes are returned as such). */
function bytesOf(s: Serialized): Uint8Array {
  return new Uint8Array(Buffer.from(s.b, 'base64'));
}

/** Whether no object in `v` has a member "lc" or "__proto__": the walk would only copy it. */
function revivesNothing(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true;
  if (Array.isArray(v)) {
    for (const x of v) if (!revivesNothing(x)) return false;
    return true;
  }
  for (const k of Object.keys(v)) {
    if (k === 'lc' || k === '__proto__') return false;
    if (!revivesNothing((v as Record<string, unknown>)[k])) return false;
  }
  return true;
}
