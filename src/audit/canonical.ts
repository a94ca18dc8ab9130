/**
 * Canonical JSON: no whitespace, strings and numbers as ECMAScript's JSON.stringify writes
 * them, object keys sorted by UTF-16 code units, except that keys which are array indices
 * ("0" to "4294967294", no leading zeros) come first in numeric order: the object built
 * with sorted keys enumerates them so. RFC 8785 but for those keys (docs/export-format.md
 * says so for verifiers in other languages). Two equal values always serialise to the
 * same bytes, so they can be hashed.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

/**
 * `canonicalJson(value)` in pieces: arrays and objects down to `levels` deep member by
 * member, anything deeper whole. Joined, the pieces are `canonicalJson(value)` exactly
 * (property-tested), members in the order it writes them; so a section of many MB can be
 * measured and hashed without ever being one string.
 */
export function* canonicalPieces(value: unknown, levels = 4): Generator<string> {
  if (levels > 0 && Array.isArray(value)) {
    yield '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) yield ',';
      // As JSON.stringify writes them: a member it cannot write is null.
      yield* isWritten(value[i]) ? canonicalPieces(value[i], levels - 1) : ['null'];
    }
    yield ']';
    return;
  }
  if (levels > 0 && value !== null && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    // The order sortKeys gives them: its object is built the same way, and enumerates
    // integer-like keys first whatever the insertion order (a `__proto__` key is dropped).
    const order: Record<string, true> = {};
    for (const k of Object.keys(v).sort()) if (v[k] !== undefined) order[k] = true;
    let first = true;
    yield '{';
    for (const k of Object.keys(order)) {
      if (!isWritten(v[k])) continue;
      yield `${first ? '' : ','}${JSON.stringify(k)}:`;
      first = false;
      yield* canonicalPieces(v[k], levels - 1);
    }
    yield '}';
    return;
  }
  yield canonicalJson(value) ?? 'null';
}

/** Whether JSON.stringify writes a value (not undefined, a function or a symbol): as a member, or as null in an array. */
export function isWritten(v: unknown): boolean {
  return v !== undefined && typeof v !== 'function' && typeof v !== 'symbol';
}

/**
 * What `JSON.parse(JSON.stringify(value))` gives back, built without the text: toJSON
 * applied (a Date becomes its ISO string), members JSON leaves out dropped, array members
 * it cannot write and non-finite numbers null, a `__proto__` key an own member. Containers
 * are new; strings are shared (they are immutable), so a large state is never held twice
 * nor written out as text to be copied (property-tested against the round trip).
 */
export function jsonValue(value: unknown, key = ''): unknown {
  let v = value;
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON(k: string): unknown }).toJSON(key);
  if (v instanceof Number || v instanceof String || v instanceof Boolean) v = v.valueOf();
  if (typeof v === 'number') return Number.isFinite(v) ? (v === 0 ? 0 : v) : null; // -0 as JSON gives it back: 0
  if (typeof v === 'bigint') throw new TypeError('Do not know how to serialize a BigInt'); // as JSON.stringify
  if (v === null || typeof v !== 'object') return isWritten(v) ? v : undefined;
  if (Array.isArray(v)) return v.map((x, i) => (isWritten(x) ? (jsonValue(x, String(i)) ?? null) : null));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = jsonValue((v as Record<string, unknown>)[k], k);
    if (x !== undefined) Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
  }
  return out;
}
