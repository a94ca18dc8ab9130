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
    else setMember(result, key, applyMergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value));
  }
  return result;
}

function isObject(v: Json | undefined): v is { [k: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone(v: Json): Json {
  return typeof v === 'object' && v !== null ? (JSON.parse(JSON.stringify(v)) as Json) : v;
}

/**
 * Sets a member as JSON means it: "__proto__" included, as an own property (JSON.parse
 * makes it one), never the object's prototype.
 */
export function setMember(target: { [k: string]: Json }, key: string, value: Json): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
