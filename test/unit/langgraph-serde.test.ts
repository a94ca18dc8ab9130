import { types } from 'node:util';
import fc from 'fast-check';
import { JsonPlusSerializer } from '@langchain/langgraph-checkpoint';
import { HumanMessage } from '@langchain/core/messages';
import { reader } from '../../src/integrations/langgraph/serde';

/**
 * The saver reads stored values back without LangGraph's async revive walk when that walk
 * would only copy the parsed JSON. Whatever the value, what it reads must be what the
 * serializer itself reads from the same bytes: same structure, same prototypes, same
 * revived Sets, Maps, bytes, errors and LangChain messages.
 */
const serde = new JsonPlusSerializer();

async function stored(value: unknown): Promise<{ t: string; b: string }> {
  const [t, bytes] = await serde.dumpsTyped(value);
  return { t, b: Buffer.from(bytes).toString('base64') };
}

/**
 * What the saver's reader gives the second time it reads a stored value, after whoever
 * got the first read changed everything in it it could (a plain JSON value is parsed once
 * and kept: what is handed out must be a copy), beside what the serializer reads.
 */
async function bothRead(value: unknown): Promise<[unknown, unknown]> {
  const s = await stored(value);
  const read = reader(serde);
  vandalise(await read(s));
  return [await read(s), await serde.loadsTyped(s.t, new Uint8Array(Buffer.from(s.b, 'base64')))];
}

/** Changes every array, typed array and object reachable in `v`, where it can. */
function vandalise(v: unknown, seen = new Set<unknown>()): void {
  if (typeof v !== 'object' || v === null || seen.has(v)) return;
  seen.add(v);
  try {
    if (ArrayBuffer.isView(v)) (v as Uint8Array).fill(9);
    else if (Array.isArray(v)) {
      v.forEach((x) => vandalise(x, seen));
      v.push('vandal');
    } else {
      for (const k of Reflect.ownKeys(v)) vandalise((v as Record<PropertyKey, unknown>)[k], seen);
      (v as Record<string, unknown>).vandal = true;
    }
  } catch {
    // frozen or otherwise closed: nothing a caller could change either
  }
}

/**
 * Equal in structure, prototypes included: two reads never share objects, so a prototype
 * the walk made from a "__proto__" member is compared by its contents, a class's by identity.
 */
function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const [pa, pb] = [Object.getPrototypeOf(a) as unknown, Object.getPrototypeOf(b) as unknown];
  if (pa !== pb && !same(pa, pb)) return false;
  if (types.isMap(a) || types.isSet(a)) return (types.isMap(b) || types.isSet(b)) && same([...(a as Set<unknown>)], [...(b as Set<unknown>)]); // brand checks: an object can have a Map as its prototype
  if (ArrayBuffer.isView(a)) return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from((b as Uint8Array).buffer, (b as Uint8Array).byteOffset, (b as Uint8Array).byteLength));
  if (types.isNativeError(a)) return a.message === (b as Error).message && a.name === (b as Error).name;
  if (types.isDate(a) || types.isRegExp(a)) return String(a) === String(b);
  const [ka, kb] = [Reflect.ownKeys(a), Reflect.ownKeys(b)];
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => same((a as Record<PropertyKey, unknown>)[k], (b as Record<PropertyKey, unknown>)[k]));
}

const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('lc', '__proto__', 'type', 'id', 'value', 'args', 'kwargs'));

it('reads what the serializer reads from the same bytes, for any value (property)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.anything({ key, maxDepth: 4, withMap: true, withSet: true, withTypedArray: true, withDate: true, withNullPrototype: true, withBoxedValues: true }), async (value) => {
      const [fast, slow] = await bothRead(value);
      expect(same(fast, slow)).toBe(true);
    }),
    { numRuns: 300 },
  );
});

it.each([
  ['data shaped like an undefined record', { a: { lc: 2, type: 'undefined' } }],
  ['a member named __proto__, which the walk makes the prototype', JSON.parse('{"a":{"__proto__":{"x":1}}}') as unknown],
  ['a Set, a Map, bytes, an error and undefined', { s: new Set([1]), m: new Map([['k', 1]]), u8: new Uint8Array([1, 2]), e: new Error('x'), none: undefined }],
  ['a LangChain message', { messages: [new HumanMessage('hello')] }],
  ['bytes alone', new Uint8Array([0, 255])],
])('reads %s as the serializer does', async (_, value) => {
  const [fast, slow] = await bothRead(value);
  expect(same(fast, slow)).toBe(true);
});

it('gives bytes back as a plain Uint8Array, as they were stored', async () => {
  const read = await reader(serde)(await stored(new Uint8Array([7, 8])));
  expect(Object.getPrototypeOf(read)).toBe(Uint8Array.prototype);
  expect([...(read as Uint8Array)]).toEqual([7, 8]);
});

it('plain JSON is read as fresh objects each time: what a caller changes does not reach the next read', async () => {
  const s = await stored({ messages: ['a', 'b'], profile: { id: 1 } });
  const read = reader(serde);
  const a = (await read(s)) as { messages: string[]; profile: { id: number } };
  a.messages.push('c');
  a.profile.id = 2;
  const b = (await read(s)) as { messages: string[]; profile: { id: number } };
  expect(b).toEqual({ messages: ['a', 'b'], profile: { id: 1 } });
  b.messages.length = 0;
  expect(await read(s)).toEqual({ messages: ['a', 'b'], profile: { id: 1 } });
});

it('leaves a subclass of the serializer to read for itself', async () => {
  class Marking extends JsonPlusSerializer {
    override async loadsTyped(type: string, data: Uint8Array | string): Promise<unknown> {
      return { marked: await super.loadsTyped(type, data) };
    }
  }
  const s = await stored({ a: 1 });
  expect(await reader(new Marking())(s)).toEqual({ marked: { a: 1 } });
});
