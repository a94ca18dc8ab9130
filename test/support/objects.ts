import type { ObjectStore } from '../../src/objects';

/** An object store doing what `inner` does, but for the methods `overrides` gives (a store that races, loses writes, or is always written first). */
export function storeOver(inner: ObjectStore, overrides: Partial<Omit<ObjectStore, 'location'>>): ObjectStore {
  return {
    location: inner.location,
    get: (n) => inner.get(n),
    getVersioned: (n) => inner.getVersioned(n),
    list: (p) => inner.list(p),
    delete: (n) => inner.delete(n),
    put: (n, b, o) => inner.put(n, b, o),
    putIfVersion: (n, b, v, o) => inner.putIfVersion(n, b, v, o),
    ...overrides,
  };
}
