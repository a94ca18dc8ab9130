import { StorageError } from '../errors';

/**
 * Object storage: named byte objects in a local folder or an S3 bucket. The witness
 * (src/audit/witness.ts) and the retention archive (src/retention/) keep their objects
 * through this one interface, so both run on either kind of store unchanged.
 *
 * Names are `/`-separated paths built from validated ids ([a-z0-9._-] tenants,
 * [A-Za-z0-9._:-] sessions): they never hold `..` or a leading `/`.
 */
export interface ObjectStore {
  /** Where it lives, for messages (a folder path or `s3://bucket/prefix`; never credentials). */
  readonly location: string;
  /** The object's bytes, or null if there is none. STORAGE_UNAVAILABLE when the store cannot be reached. */
  get(name: string): Promise<Uint8Array | null>;
  /** Writes the object, replacing any earlier one atomically (readers see old or new, never part). */
  put(name: string, body: Uint8Array, options?: PutOptions): Promise<void>;
  /** Names directly under a prefix ending in `/` (objects), or the top-level folder names when prefix is ''. */
  list(prefix: string): Promise<string[]>;
  /** The object's bytes and version, or null if there is none. */
  getVersioned(name: string): Promise<VersionedObject | null>;
  /**
   * Writes the object only if it is still at `version` (null: only if there is none), in
   * one step no other write to it comes between; false, having written nothing, when
   * another write came first. Where writers read, change and write back (the witness),
   * this keeps one from writing over what another wrote since it read: updateObject.
   */
  putIfVersion(name: string, body: Uint8Array, version: string | null, options?: PutOptions): Promise<boolean>;
  /** Deletes the object; deleting one that is not there succeeds. STORAGE_REFUSED when a retention lock forbids it. */
  delete(name: string): Promise<void>;
}

/** An object's bytes with its version, to write it back only if no one else has (putIfVersion). */
export interface VersionedObject {
  body: Uint8Array;
  /** Opaque: an S3 ETag, a folder object's digest. */
  version: string;
}

export interface PutOptions {
  contentType?: string;
  /**
   * Keep the object immutable until this time where the store can enforce it (S3 Object
   * Lock on a bucket that has it enabled). A folder cannot enforce it and ignores it.
   */
  retainUntil?: Date;
}

/** Whether an object name is safe to use as a relative path. */
export function isSafeName(name: string): boolean {
  return name.length > 0 && !name.startsWith('/') && !name.split('/').some((p) => p === '' || p === '.' || p === '..');
}

/**
 * Reads an object, changes it and writes it back, so that no write another process made
 * in between is lost: `change` gets the object's bytes (null: none) and returns the bytes
 * to write (null: leave it as it is) with what to answer; where another write came first,
 * it runs again on what that one wrote. STORAGE_UNAVAILABLE when others keep writing first.
 */
export async function updateObject<T>(store: ObjectStore, name: string, change: (current: Uint8Array | null) => { write: Uint8Array | null; answer: T }, options?: PutOptions): Promise<T> {
  for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
    const current = await store.getVersioned(name);
    const { write, answer } = change(current?.body ?? null);
    if (write === null || (await store.putIfVersion(name, write, current?.version ?? null, options))) return answer;
  }
  throw new StorageError('STORAGE_UNAVAILABLE', `${store.location}: ${name} was written by others first ${UPDATE_ATTEMPTS} times in a row`);
}

/** How many times updateObject reads again after another writer came first: each retry follows a write that succeeded. */
const UPDATE_ATTEMPTS = 64;
