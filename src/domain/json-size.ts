/**
 * How many bytes a value takes as JSON, exactly or at most.
 *
 * The size limits (limits.ts) are on an event's JSON in UTF-8. Serialising each event to
 * measure it cost about 2 µs of a ~1 KB event, a sixth of the client's work before a
 * 100-event append's statement, and sealing serialises its content again anyway. Most
 * events are far below the limits, which a bound read off the value's shape shows without
 * serialising it; only an event the bound cannot clear is measured exactly. The limits'
 * answers are unchanged: an error still reports the exact size.
 */

/** Buffer.byteLength(JSON.stringify(value)): the size the limits are on. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

/**
 * An upper bound on jsonBytes(value), or Infinity where the value's shape does not give one.
 *
 * Given for strings, numbers, booleans, null, undefined, and arrays and plain objects of
 * them (their prototype Object.prototype or null). Each bound is what JSON.stringify could
 * write at most:
 *   - a string: its quotes and at most 6 bytes a UTF-16 code unit (an escape `\uXXXX` is 6
 *     bytes; an unescaped unit is at most 3 bytes of UTF-8, a surrogate pair 4 for two);
 *   - a number: at most 25 characters (`-0.0000012345678901234567`); 32 are counted;
 *     a non-finite one is written `null`;
 *   - true, false, null: 4 or 5; undefined: left out of an object, `null` in an array, 4;
 *   - an array: brackets, a comma between elements, and its elements;
 *   - an object: braces, a comma between members, and each member's quoted key, colon and
 *     value (a member left out only makes the size smaller).
 * Infinity for anything else (a function, a symbol, a BigInt, a Date, a Buffer, any class
 * instance, any object or array with a `toJSON` of its own or on its prototype: what is
 * serialised otherwise), so the caller measures exactly.
 * Recursive: the values it is given were checked no deeper than LIMITS.maxDepth.
 */
export function jsonBytesAtMost(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return 2 + 6 * value.length;
    case 'number':
      return NUMBER_AT_MOST;
    case 'boolean':
      return 5;
    case 'undefined':
      return 4;
    case 'object':
      break;
    default:
      return Infinity;
  }
  if (value === null) return 4;
  if ('toJSON' in value) return Infinity; // its own, or one put on a prototype: JSON.stringify calls it
  if (Array.isArray(value)) {
    let n = 2 + Math.max(0, value.length - 1);
    for (const item of value) n += jsonBytesAtMost(item);
    return n;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return Infinity;
  const record = value as Record<string, unknown>;
  let n = 2;
  let members = 0;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    n += 2 + 6 * key.length + 1 + jsonBytesAtMost(record[key]);
    members++;
  }
  return n + Math.max(0, members - 1);
}

/** The longest a finite number is written, rounded up: `-0.0000012345678901234567` is 25. */
const NUMBER_AT_MOST = 32;
