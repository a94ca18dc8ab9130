/**
 * JSON Merge Patch, RFC 7396, as a pure function: returns a new value, never mutates.
 * A null in the patch removes the member; a non-object patch replaces the target.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function applyMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const result: { [k: string]: Json } = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

function isObject(v: Json | undefined): v is { [k: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone(v: Json): Json {
  return typeof v === 'object' && v !== null ? (JSON.parse(JSON.stringify(v)) as Json) : v;
}
