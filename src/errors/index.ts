/**
 * Every failure the vault reports is a VaultError with a stable string `code`.
 * The `category` decides the CLI exit code (see shared/spec/cli.md):
 * integrity → 1, input → 2, key → 3, storage → 4.
 *
 * Messages never contain secrets or event content: they name fields, ids, lengths
 * and codes only. When wrapping a driver error, the driver error is kept as `cause`
 * (for --debug) but its message is not copied, since drivers echo query parameters.
 */
export type ErrorCategory = 'integrity' | 'input' | 'key' | 'storage';

export type ErrorCode =
  // input (exit 2)
  | 'INVALID_EVENT'
  | 'INVALID_INPUT'
  | 'INVALID_ID'
  | 'UNKNOWN_TENANT'
  | 'UNKNOWN_SESSION'
  | 'TENANT_EXISTS'
  | 'IDEMPOTENCY_CONFLICT'
  | 'INVALID_CONFIG'
  | 'ACTOR_REQUIRED'
  | 'KEY_STATE'
  | 'LEGAL_HOLD'
  | 'SESSION_STATE'
  | 'RETENTION_NOT_DUE'
  | 'TOOL_LOOP_LIMIT'
  | 'OPENAI_KEY_MISSING'
  | 'REASON_REQUIRED'
  | 'RETENTION_LOCKED'
  | 'DEPENDENCY_MISSING'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'UNKNOWN_TOKEN'
  // key (exit 3)
  | 'KEYRING_MISSING'
  | 'KEYRING_INSECURE'
  | 'KEYRING_INVALID'
  | 'KEY_NOT_FOUND'
  | 'KEY_DESTROYED'
  | 'KEY_UNAVAILABLE'
  | 'SIGNING_KEY_RETIRED'
  | 'DECRYPTION_FAILED'
  // integrity (exit 1)
  | 'CHAIN_BROKEN'
  | 'WRAP_UNSIGNED'
  | 'ARCHIVE_MISSING'
  | 'ARCHIVE_CORRUPT'
  | 'PURGE_UNRECORDED'
  // storage (exit 4)
  | 'STORAGE_UNAVAILABLE'
  | 'STORE_LOCKED'
  | 'STORAGE_REFUSED'
  | 'CLOCK_AHEAD'
  | 'PERMISSION_DENIED'
  | 'APPEND_CONTENDED'
  | 'ACCESS_TRAIL_UNAVAILABLE'
  | 'MODEL_UNAVAILABLE'
  | 'NO_VAULT';

const CATEGORY: Record<ErrorCode, ErrorCategory> = {
  INVALID_EVENT: 'input',
  INVALID_INPUT: 'input',
  INVALID_ID: 'input',
  UNKNOWN_TENANT: 'input',
  UNKNOWN_SESSION: 'input',
  TENANT_EXISTS: 'input',
  IDEMPOTENCY_CONFLICT: 'input',
  INVALID_CONFIG: 'input',
  ACTOR_REQUIRED: 'input',
  KEY_STATE: 'input',
  LEGAL_HOLD: 'input',
  SESSION_STATE: 'input',
  RETENTION_NOT_DUE: 'input',
  TOOL_LOOP_LIMIT: 'input',
  OPENAI_KEY_MISSING: 'input',
  REASON_REQUIRED: 'input',
  RETENTION_LOCKED: 'input',
  DEPENDENCY_MISSING: 'input',
  UNAUTHENTICATED: 'input',
  FORBIDDEN: 'input',
  UNKNOWN_TOKEN: 'input',
  KEYRING_MISSING: 'key',
  KEYRING_INSECURE: 'key',
  KEYRING_INVALID: 'key',
  KEY_NOT_FOUND: 'key',
  KEY_DESTROYED: 'key',
  KEY_UNAVAILABLE: 'key',
  SIGNING_KEY_RETIRED: 'key',
  DECRYPTION_FAILED: 'key',
  CHAIN_BROKEN: 'integrity',
  WRAP_UNSIGNED: 'integrity',
  ARCHIVE_MISSING: 'integrity',
  ARCHIVE_CORRUPT: 'integrity',
  PURGE_UNRECORDED: 'integrity',
  STORAGE_UNAVAILABLE: 'storage',
  STORE_LOCKED: 'storage',
  STORAGE_REFUSED: 'storage',
  CLOCK_AHEAD: 'storage',
  PERMISSION_DENIED: 'storage',
  APPEND_CONTENDED: 'storage',
  ACCESS_TRAIL_UNAVAILABLE: 'storage',
  MODEL_UNAVAILABLE: 'storage',
  NO_VAULT: 'storage',
};

/** The category of a code (a `failed:<CODE>` outcome's exit code, for instance). */
export function categoryOf(code: string): ErrorCategory | undefined {
  return (CATEGORY as Record<string, ErrorCategory>)[code];
}

/** Exit code for each category, as the CLI contract defines it. */
export const EXIT_CODES: Record<ErrorCategory, number> = {
  integrity: 1,
  input: 2,
  key: 3,
  storage: 4,
};

/** Base class of every error the vault throws on purpose. */
export class VaultError extends Error {
  readonly code: ErrorCode;
  readonly category: ErrorCategory;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.category = CATEGORY[code];
  }

  /** Serialises to code and message only: never the cause, which may hold driver detail. */
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Bad input from a caller: nothing was written. */
export class InputError extends VaultError {}

/** A keyring or key problem: missing, insecure, malformed, wrong or destroyed. */
export class KeyError extends VaultError {}

/** Stored data failed an integrity check. */
export class IntegrityError extends VaultError {}

/** The database or a store refused or could not be reached. */
export class StorageError extends VaultError {}

/** True when `e` is a VaultError (also across module copies, by shape). */
export function isVaultError(e: unknown): e is VaultError {
  return e instanceof VaultError;
}
