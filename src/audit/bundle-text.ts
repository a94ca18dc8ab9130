import type { Bundle } from './bundle';
import { isWritten } from './canonical';

/**
 * A bundle's file text, `JSON.stringify(bundle, null, 1)` and a newline, in pieces of about
 * `chunk` characters, so that writing a bundle never holds its whole text (18 MB for
 * 10,000 events) beside the bundle itself. The text is the same character for character
 * (property-tested against JSON.stringify).
 */
export function* bundleText(bundle: Bundle, chunk = 1 << 16): Generator<string> {
  let buffered = '';
  for (const piece of prettyJson(bundle, 0)) {
    buffered += piece;
    if (buffered.length >= chunk) {
      yield buffered;
      buffered = '';
    }
  }
  yield `${buffered}\n`;
}

/**
 * `JSON.stringify(value, null, 1)` in pieces: every array and the objects of the top four
 * levels (the bundle, its sections, a state and its parts) member by member; anything
 * else whole, indented to its depth (JSON text has no raw line breaks inside strings, so
 * indenting every line break is exact).
 */
export function* prettyJson(value: unknown, depth: number): Generator<string> {
  const v = toJsonValue(value);
  const pad = '\n' + ' '.repeat(depth);
  if (Array.isArray(v) && v.length > 0) {
    for (let i = 0; i < v.length; i++) {
      yield i === 0 ? `[${pad} ` : `,${pad} `;
      // As JSON.stringify writes them: an array member it cannot write is null.
      yield* isWritten(v[i]) ? prettyJson(v[i], depth + 1) : ['null'];
    }
    yield `${pad}]`;
    return;
  }
  if (depth < 4 && isObject(v)) {
    const members = Object.keys(v).filter((k) => isWritten(v[k]));
    if (members.length > 0) {
      for (let i = 0; i < members.length; i++) {
        yield `${i === 0 ? '{' : ','}${pad} ${JSON.stringify(members[i])}: `;
        yield* prettyJson(v[members[i]!], depth + 1);
      }
      yield `${pad}}`;
      return;
    }
  }
  yield (JSON.stringify(v, null, 1) ?? 'null').replaceAll('\n', pad);
}

/** What JSON.stringify writes for a value with toJSON (a Date, a Buffer). */
function toJsonValue(value: unknown): unknown {
  return value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function' ? (value as { toJSON(): unknown }).toJSON() : value;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
