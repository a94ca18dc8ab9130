import type { CheckpointSigner, KeyPeriods, Witness } from '../audit';
import type { Logger } from '../observability';
import type { ObjectStore } from '../objects';
import type { RetentionPolicy } from '../retention';
import type { Store } from '../store';
import type { KeyAccess } from './key-access';
import type { KeyedMutex } from './mutex';
import type { GroupCommit } from './group-commit';
import type { ReleaseKey } from './release-key';
import type { SessionCache } from './session-cache';

/** What the vault's operations share: the store, keys, caches, logger and clock. */
export interface VaultDeps {
  store: Store;
  keys: KeyAccess;
  cache: SessionCache;
  mutex: KeyedMutex;
  /** Writes appended batches, grouping those of concurrent sessions into one statement and commit. */
  appends: GroupCommit;
  logger: Logger;
  clock: () => Date;
  /** Events a read page holds (memory per page = pageSize × event size). */
  pageSize: number;
  /** The keyring file's path. */
  keyringPath: string;
  /** Wraps and unwraps tenant keys (keyring master keys, or a KMS). */
  provider: () => Promise<import('../keys').KeyProvider>;
  /** Whether the provider was given (HSM, KMS, environment) rather than the keyring file's. */
  ownProvider: boolean;
  /** The key that signs checkpoints, or null when checkpoints are off. */
  signer: () => Promise<CheckpointSigner | null>;
  /** Public keys trusted to have signed checkpoints (keyring and witness), by key id. */
  trustedKeys: () => Promise<Map<string, Uint8Array>>;
  /** When each signing key was in use (from createdAt until retiredAt), by key id: the keyring's and the witness's, a retirement either states counting from the earlier. */
  keyPeriods: () => Promise<KeyPeriods>;
  /** Where checkpoints are witnessed outside the database, or null. */
  witness: Witness | null;
  /** Where archived sessions are kept (a folder, or an S3 bucket). */
  archive: ObjectStore;
  /** The key whose proof the database asks for before it releases an archived session's events (drizzle/0078). */
  releaseKey: ReleaseKey;
  /** The retention policy of tenants that have none of their own. */
  defaultRetention: RetentionPolicy;
  /** A read of the latest state writes a snapshot when the last one is at most this many events behind (0: never). */
  snapshotEvery: number;
  /** Entries of each list a snapshot keeps (src/replay/window.ts): the widest window read in constant time. */
  snapshotWindow: number;
  /** Whether events and snapshots are sealed padded (v3 and snapshot v2), else as before padding. */
  padContent: boolean;
  /** Work off the hot path (snapshots), awaited on close. */
  background: import('./background').BackgroundTasks;
}
