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
  /** Deletes the object; deleting one that is not there succeeds. STORAGE_REFUSED when a retention lock forbids it. */
  delete(name: string): Promise<void>;
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
