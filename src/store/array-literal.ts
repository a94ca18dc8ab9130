/**
 * PostgreSQL array literals (`{…}`), the text a batch's clear columns travel as. Pure.
 *
 * node-postgres turns a JS array into the same text, one element at a time through its
 * generic value conversion and two regular expressions an element; for a batch of 100
 * events' twelve columns that cost about 70 µs a call, and building the arrays about 110
 * more (docs/performance.md, stop 37). Here each column is written in one pass over the
 * rows, in about 60 µs for both. The server reads either text into the same array.
 *
 * Text elements are always double-quoted, with backslashes and double quotes escaped, so
 * no value (a comma, a brace, the word NULL, an empty string) can end its element early
 * or read as another: what the array holds is what was given (test/integration/array-literal.test.ts).
 */

/** `{"a","b\"c",NULL}`: each element quoted and escaped, null as NULL. */
export function textArray<T>(items: readonly T[], of: (item: T) => string | null): string {
  return literal(items, of, quoted);
}

/** `{1,2.5,NULL}`: each number as JavaScript writes it (what node-postgres sends for one), null as NULL. */
export function numberArray<T>(items: readonly T[], of: (item: T) => number | null): string {
  return literal(items, of, String);
}

/**
 * `{"2026-12-05T06:43:33.123Z",…}`: each time in ISO 8601, UTC. A batch's events share
 * one time (one Date), so a time the same object as the one before is not written anew.
 */
export function timeArray<T>(items: readonly T[], of: (item: T) => Date): string {
  let last: Date | null = null;
  let text = '';
  return literal(items, of, (d) => {
    if (d !== last) {
      text = quoted(d.toISOString());
      last = d;
    }
    return text;
  });
}

/** `{…}`: each item's value written by `write`, null as NULL, separated by commas. */
function literal<T, V>(items: readonly T[], of: (item: T) => V | null, write: (v: V) => string): string {
  let out = '{';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ',';
    const v = of(items[i]!);
    out += v === null ? 'NULL' : write(v);
  }
  return out + '}';
}

function quoted(s: string): string {
  return s.includes('"') || s.includes('\\') ? `"${s.replace(/[\\"]/g, '\\$&')}"` : `"${s}"`;
}
