import { boolean, customType, doublePrecision, index, integer, bigint, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';

/**
 * The vault's tables. Every primary key starts with tenant_id, so the schema can be
 * distributed by tenant (Citus) unchanged. Row-level security, the append-only guard
 * and privileges are in the hand-written migration drizzle/0001_security.sql.
 */

/** bytea as Uint8Array on both drivers (pg gives Buffer, PGlite Uint8Array). */
export const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  toDriver: (v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength),
  fromDriver: (v) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
});

export const tenants = pgTable('tenants', {
  tenantId: text('tenant_id').primaryKey(),
  createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull(),
  /** Every key wrap of the tenant is signed, for good: the vault opens no other (drizzle/0051). */
  wrapsSigned: boolean('wraps_signed').notNull().default(false),
});

/** Versioned tenant keys, each wrapped by a master key (or KMS key) named by master_key_id. */
export const tenantKeys = pgTable(
  'tenant_keys',
  {
    tenantId: text('tenant_id').notNull().references(() => tenants.tenantId),
    version: integer('version').notNull(),
    masterKeyId: text('master_key_id').notNull(),
    wrappedKey: bytea('wrapped_key'),
    state: text('state').notNull(),
    /** The wrap's signature by the checkpoint key (audit/key-wrap.ts), and its place in the version's wraps. */
    wrapSeq: integer('wrap_seq'),
    wrapKeyId: text('wrap_key_id'),
    wrapSignature: bytea('wrap_signature'),
    /** When the database stored the wrap, by its own clock (a trigger stamps every write of the wrap: drizzle/0055); null before 0055. */
    wrapStoredAt: timestamp('wrap_stored_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.version] })],
);

/**
 * One row a session: its chain head, its data key (wrapped by a tenant key version) and
 * its status. The head is what verification compares the chain against.
 */
export const sessions = pgTable(
  'sessions',
  {
    tenantId: text('tenant_id').notNull().references(() => tenants.tenantId),
    sessionId: text('session_id').notNull(),
    agent: text('agent'),
    status: text('status').notNull().default('active'),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull(),
    headSeq: bigint('head_seq', { mode: 'number' }).notNull().default(0),
    headHash: bytea('head_hash'),
    firstAt: timestamp('first_at', { withTimezone: true, precision: 3 }),
    lastAt: timestamp('last_at', { withTimezone: true, precision: 3 }),
    dataKeyVersion: integer('data_key_version').notNull(),
    tenantKeyVersion: integer('tenant_key_version').notNull(),
    wrappedDataKey: bytea('wrapped_data_key'),
    /** The wrap's signature by the checkpoint key (audit/key-wrap.ts), and its place in the session key's wraps. */
    wrapSeq: integer('wrap_seq'),
    wrapKeyId: text('wrap_key_id'),
    wrapSignature: bytea('wrap_signature'),
    /** When the database stored the wrap, by its own clock (a trigger stamps every write of the wrap: drizzle/0055); null before 0055. */
    wrapStoredAt: timestamp('wrap_stored_at', { withTimezone: true }),
    /**
     * The retention floor the session was created (or archived) under (`7y`): it is purged
     * no earlier than `last_at` plus this, whatever the tenant's policy says later. Only a
     * recorded governance override lowers it; the database refuses it otherwise
     * (drizzle/0015_trust_guards.sql). Null for sessions older than floors.
     */
    retainFloor: text('retain_floor'),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.sessionId] })],
);

/** The append-only log. Content is sealed; the other columns are clear metadata. */
export const events = pgTable(
  'events',
  {
    tenantId: text('tenant_id').notNull(),
    sessionId: text('session_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    type: text('type').notNull(),
    at: timestamp('at', { withTimezone: true, precision: 3 }).notNull(),
    correlationId: text('correlation_id').notNull(),
    idempotencyKey: text('idempotency_key'),
    tool: text('tool'),
    promptTokens: integer('prompt_tokens'),
    completionTokens: integer('completion_tokens'),
    costUsd: doublePrecision('cost_usd'),
    durationMs: bigint('duration_ms', { mode: 'number' }),
    keyVersion: integer('key_version').notNull(),
    nonce: bytea('nonce').notNull(),
    ciphertext: bytea('ciphertext').notNull(),
    hash: bytea('hash').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.sessionId, t.seq] }),
    // No foreign key to sessions: the write paths (session_vault_append, _append_one,
    // _append_group) move the session's head in the same statement before inserting, so
    // an event without its session cannot be written; a per-row FK check cost ~40% of
    // insert time (see docs/architecture.md).
    uniqueIndex('events_idempotency_key').on(t.tenantId, t.sessionId, t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
    index('events_correlation_id').on(t.tenantId, t.correlationId),
  ],
);

/**
 * Signed checkpoints of session chain heads (src/audit/checkpoint.ts): the note as signed,
 * with its seq, hash and signing key id in columns for lookup. Append-only, like events.
 */
export const checkpoints = pgTable(
  'checkpoints',
  {
    tenantId: text('tenant_id').notNull(),
    sessionId: text('session_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    keyId: text('key_id').notNull(),
    hash: bytea('hash').notNull(),
    signedAt: timestamp('signed_at', { withTimezone: true, precision: 3 }).notNull(),
    note: text('note').notNull(),
    /**
     * When the database stored the checkpoint, by its own clock: the column's default, which
     * no role that inserts checkpoints may set (drizzle/0055); null before 0055. So it is
     * never written from here: insertCheckpoint names the other columns.
     */
    storedAt: timestamp('stored_at', { withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.sessionId, t.seq, t.keyId] })],
);

/**
 * The operator access trail: who decrypted or exported what, when, why, with what
 * outcome. One hash chain across tenants (seq is global). Append-only.
 */
export const accessLog = pgTable('access_log', {
  seq: bigint('seq', { mode: 'number' }).primaryKey(),
  at: timestamp('at', { withTimezone: true, precision: 3 }).notNull(),
  actor: text('actor').notNull(),
  action: text('action').notNull(),
  tenantId: text('tenant_id'),
  sessionId: text('session_id'),
  reason: text('reason'),
  outcome: text('outcome').notNull(),
  hash: bytea('hash').notNull(),
  /** The signing key that signed the trail head at this record (src/audit/access.ts), or null when the vault signs nothing. */
  keyId: text('key_id'),
  /** Ed25519 over the trail-head note at this record: the app role without the signing key cannot forge one. */
  signature: bytea('signature'),
  /**
   * When the database stored it, by its own clock: the column's default, which no role that
   * writes the trail may set (drizzle/0057); null before 0057. Never written from here.
   */
  storedAt: timestamp('stored_at', { withTimezone: true }),
  /** 16 random bytes in its fields' digest: the record is chained in the v2 form (src/audit/access.ts, drizzle/0059); null before 0059 (v1). */
  salt: bytea('salt'),
  /**
   * Its tenant's trail secret, 32 bytes, in its tenant's and session's digests: the record
   * is chained in the v3 form (src/audit/access.ts, drizzle/0061); null before 0061 and for
   * the vault's own records (no tenant). The tenant's first v3 record fixes it.
   */
  tenantSecret: bytea('tenant_secret'),
  /**
   * Its session's digest is keyed by the session's trail key, derived from the tenant's
   * secret: the record is chained in the v4 form (src/audit/access.ts, drizzle/0062); false
   * before 0062, for the vault's own records, and for those an earlier version writes.
   */
  sessionKeyed: boolean('session_keyed').notNull().default(false),
});

/**
 * Legal holds, set and cleared: a held session is never shredded or purged. A hold is in
 * force while `cleared_at` is null. Rows are never deleted: clearing stamps
 * `cleared_at/by/reason` once (the database refuses anything else), so the history stays
 * here beside the access trail that recorded it.
 */
export const legalHolds = pgTable(
  'legal_holds',
  {
    tenantId: text('tenant_id').notNull(),
    sessionId: text('session_id').notNull(),
    reason: text('reason').notNull(),
    setBy: text('set_by').notNull(),
    setAt: timestamp('set_at', { withTimezone: true, precision: 3 }).notNull(),
    clearedAt: timestamp('cleared_at', { withTimezone: true, precision: 3 }),
    clearedBy: text('cleared_by'),
    clearReason: text('clear_reason'),
    /** When the database stored the hold and its clearing, by its own clock (a trigger stamps them: drizzle/0058); null before 0058. */
    setStoredAt: timestamp('set_stored_at', { withTimezone: true }),
    clearedStoredAt: timestamp('cleared_stored_at', { withTimezone: true }),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.sessionId, t.setAt] }),
    uniqueIndex('legal_holds_one_in_force').on(t.tenantId, t.sessionId).where(sql`cleared_at IS NULL`),
  ],
);

/**
 * Each tenant's retention policy (src/retention/policy.ts): durations as written
 * (`30d`, `7y`). A tenant without a row follows the vault's default. Changes are
 * recorded in the access trail.
 */
export const retentionPolicies = pgTable('retention_policies', {
  tenantId: text('tenant_id').primaryKey(),
  archiveAfter: text('archive_after').notNull(),
  retain: text('retain').notNull(),
  setBy: text('set_by').notNull(),
  setAt: timestamp('set_at', { withTimezone: true, precision: 3 }).notNull(),
  /**
   * `governance` (default): a shorter policy applies to new sessions only, unless an
   * operator lowers existing sessions' floors with an explicit, recorded override.
   * `compliance`: no floor is ever lowered, and the mode never goes back. Modelled on S3
   * Object Lock's modes; the database enforces both (drizzle/0015_trust_guards.sql).
   */
  mode: text('mode').notNull().default('governance'),
});

/**
 * Verified archive objects: one row per archiving of a session (a session restored,
 * appended to and archived again gets a second row at its new head). Written only after
 * the object was read back from the archive store and verified; the database function
 * that removes a session's hot rows requires one (drizzle/0012_retention_security.sql).
 * Append-only.
 */
export const archives = pgTable(
  'archives',
  {
    tenantId: text('tenant_id').notNull(),
    sessionId: text('session_id').notNull(),
    headSeq: bigint('head_seq', { mode: 'number' }).notNull(),
    headHash: bytea('head_hash').notNull(),
    objectName: text('object_name').notNull(),
    store: text('store').notNull(),
    digest: bytea('digest').notNull(),
    bytes: bigint('bytes', { mode: 'number' }).notNull(),
    archivedAt: timestamp('archived_at', { withTimezone: true, precision: 3 }).notNull(),
    archivedBy: text('archived_by').notNull(),
    verifiedAt: timestamp('verified_at', { withTimezone: true, precision: 3 }).notNull(),
    /** The release proof for tenant, session, head and digest (drizzle/0078, 0079): a record is stored only with it. NULL for records stored before 0079. */
    proof: bytea('proof'),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.sessionId, t.headSeq] })],
);

/**
 * What is left of a purged session: its id, its final head (so verification knows what
 * existed and that the signed checkpoints agree), when it was due and when and by whom it
 * was purged. `objects_deleted_at` is set once the archive objects are gone.
 */
export const tombstones = pgTable(
  'tombstones',
  {
    tenantId: text('tenant_id').notNull(),
    sessionId: text('session_id').notNull(),
    headSeq: bigint('head_seq', { mode: 'number' }).notNull(),
    headHash: bytea('head_hash'),
    archiveDigest: bytea('archive_digest').notNull(),
    lastAt: timestamp('last_at', { withTimezone: true, precision: 3 }),
    dueAt: timestamp('due_at', { withTimezone: true, precision: 3 }).notNull(),
    purgedAt: timestamp('purged_at', { withTimezone: true, precision: 3 }).notNull(),
    purgedBy: text('purged_by').notNull(),
    policy: text('policy').notNull(),
    objectsDeletedAt: timestamp('objects_deleted_at', { withTimezone: true, precision: 3 }),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.sessionId] })],
);

/**
 * Encrypted state snapshots (src/vault/snapshots.ts): the replayed agent state as of
 * `seq`, sealed with a key of its own derived from the session data key, its associated
 * data binding tenant, session, seq and the chain hash of event `seq` (`head_hash`).
 * Derived data: reads check a snapshot against the chain before using it and fall back
 * to a full replay; deleting every snapshot changes no result. Shredding and purge
 * delete them.
 */
export const snapshots = pgTable(
  'snapshots',
  {
    tenantId: text('tenant_id').notNull(),
    sessionId: text('session_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    /** The time of event `seq`, so "the state at time T" finds its snapshot too. */
    at: timestamp('at', { withTimezone: true, precision: 3 }).notNull(),
    headHash: bytea('head_hash').notNull(),
    keyVersion: integer('key_version').notNull(),
    nonce: bytea('nonce').notNull(),
    ciphertext: bytea('ciphertext').notNull(),
    /** The checkpoint key's signature over its place and sealed bytes (audit/snapshot-signature.ts); none where the vault signed nothing. */
    keyId: text('key_id'),
    signature: bytea('signature'),
    /** When the database stored it, by its own clock (the insert trigger stamps it, whatever the writer gives: drizzle/0056); null before 0056. */
    storedAt: timestamp('stored_at', { withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.sessionId, t.seq] })],
);

/**
 * API tokens of the HTTP service (src/tokens): a signed grant per row, the secret's hash
 * only. Revocation stamps `revoked_at/by` once; the database refuses anything else.
 */
export const apiTokens = pgTable(
  'api_tokens',
  {
    tenantId: text('tenant_id').notNull(),
    tokenId: text('token_id').notNull(),
    role: text('role').notNull(),
    label: text('label'),
    secretHash: bytea('secret_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull(),
    createdBy: text('created_by').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, precision: 3 }),
    keyId: text('key_id').notNull(),
    signature: bytea('signature').notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true, precision: 3 }),
    revokedBy: text('revoked_by'),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.tokenId] })],
);
