import type { StoredEvent } from '../domain';
import { FrameWriter, HASH_BYTES, blake2b256Into, bytes, bytesEqual, f64, frame, opt, slabBytes, str, u32, u64, type Field } from '../crypto';

/**
 * The canonical, versioned encodings of an event (docs/formats.md).
 *
 * The chain hash covers every stored column but the hash itself — clear metadata, key
 * version, nonce and ciphertext — and never plaintext, so anyone can verify a chain
 * without keys, and destroying a key (crypto-shredding) never breaks verification.
 */
export const EVENT_HASH_TAG = 'session-vault/event/v1';
export const EVENT_CONTENT_TAG = 'session-vault/event-content/v1';
export const EVENT_CONTENT_TAG_V2 = 'session-vault/event-content/v2';
export const EVENT_KEY_TAG = 'session-vault/event-key/v2';

/**
 * How an event is sealed, in its `key_version` column (hashed into the chain, so it cannot
 * be changed unseen):
 *   0  clear (the vault's own key_shredded marker);
 *   1  legacy: the session data key itself, associated data `contentAad`;
 *   2  the event's own key, `eventKeyInput` under the data key (keyed BLAKE2b), and
 *      associated data `contentAadV2`, which binds every clear column as well;
 *   3  as 2, the plaintext padded first (crypto/padding.ts), so the ciphertext's length
 *      tells little of the content.
 * New events are sealed with 3 (2 with `padContent: false`). Why per-event keys: a decrypting export discloses the
 * keys of the events it holds, and none of those opens a later event (the derivation is
 * one-way). Why every clear column in the associated data: a row whose tool, token
 * counts, cost, duration, time or correlation id was rewritten fails to open.
 */
export const SEAL_V1 = 1;
export const SEAL_V2 = 2;
export const SEAL_V3 = 3;

/** The previous hash of seq 1. */
export const GENESIS_HASH: Uint8Array = new Uint8Array(32);

export type HashedColumns = Omit<StoredEvent, 'hash'>;

/** The bytes hashed for one event: tag, previous hash, then every column in a fixed order. */
export function encodeForHash(prev: Uint8Array, e: HashedColumns): Uint8Array {
  return frame([
    str(EVENT_HASH_TAG),
    bytes(prev),
    str(e.tenant),
    str(e.session),
    u64(e.seq),
    str(e.type),
    ...clearColumns(e),
    u32(e.keyVersion),
    bytes(e.nonce),
    bytes(e.ciphertext),
  ]);
}

/**
 * hash_n = BLAKE2b-256(encodeForHash(hash_{n-1}, columns_n)). Computed for every event
 * read, so the bytes are written into a reused buffer instead of framed anew: the same
 * bytes as `encodeForHash` (property-tested), no secret among them (clear columns and
 * ciphertext), hashed before anything else can write there.
 */
export function eventHash(prev: Uint8Array, e: HashedColumns): Uint8Array {
  const out = slabBytes(HASH_BYTES); // a new row's hash, on its way to the database: see slabBytes
  blake2b256Into(out, hashInputOf(prev, e));
  return out;
}

/**
 * Whether `hash` is `eventHash(prev, e)`: what every event read checks. The digest is
 * written into a reused buffer, not memory of its own for each event.
 */
export function isEventHash(hash: Uint8Array, prev: Uint8Array, e: HashedColumns): boolean {
  const input = encodable(() => hashInputOf(prev, e));
  if (input === null) return false;
  blake2b256Into(hashOutput, input);
  return bytesEqual(hashOutput, hash);
}

/**
 * What `encode` frames, or null when a column has no encoding (a time before 1970 or invalid,
 * a negative count or seq: what only a DBA writes, never the vault), for the reader to
 * refuse the row as it refuses any rewritten one.
 */
export function encodable<T>(encode: () => T): T | null {
  try {
    return encode();
  } catch (e) {
    if (e instanceof RangeError) return null;
    throw e;
  }
}

function hashInputOf(prev: Uint8Array, e: HashedColumns): Uint8Array {
  const w = hashInput.reset().str(EVENT_HASH_TAG).bytes(prev).str(e.tenant).str(e.session).u64(e.seq).str(e.type);
  writeClearColumns(w, e);
  return w.u32(e.keyVersion).bytes(e.nonce).bytes(e.ciphertext).view();
}

const hashOutput = Buffer.alloc(HASH_BYTES);

const hashInput = new FrameWriter();
const aadInput = new FrameWriter();
const keyInput = new FrameWriter();

/**
 * Calls `use` with `contentAadV2(e)` written into a reused buffer, valid only during the
 * call (sealing and opening use it at once): what every event read and sealed needs,
 * without framing it anew.
 */
export function withContentAadV2<T>(e: Omit<HashedColumns, 'nonce' | 'ciphertext'>, use: (aad: Uint8Array) => T): T {
  const w = aadInput.reset().str(EVENT_CONTENT_TAG_V2).str(e.tenant).str(e.session).u64(e.seq).str(e.type).u32(e.keyVersion);
  return use(writeClearColumns(w, e).view());
}

/** Calls `use` with `eventKeyInput(tenant, session, seq)` written into a reused buffer, valid only during the call. */
export function withEventKeyInput<T>(tenant: string, session: string, seq: number, use: (input: Uint8Array) => T): T {
  return use(keyInput.reset().str(EVENT_KEY_TAG).str(tenant).str(session).u64(seq).view());
}

/** `clearColumns`, written. */
function writeClearColumns(w: FrameWriter, e: Omit<HashedColumns, 'nonce' | 'ciphertext'>): FrameWriter {
  return w
    .u64(e.at.getTime())
    .str(e.correlationId)
    .opt(e.idempotencyKey, w.str)
    .opt(e.tool, w.str)
    .opt(e.promptTokens, w.u64)
    .opt(e.completionTokens, w.u64)
    .opt(e.costUsd, w.f64)
    .opt(e.durationMs, w.u64);
}

/**
 * Associated data for an event's ciphertext: tenant, session, seq, type and key version.
 * A ciphertext copied to another row, session or tenant, or relabelled with another
 * type or key version, fails to open.
 */
export function contentAad(tenant: string, session: string, seq: number, type: string, keyVersion: number): Uint8Array {
  return frame([str(EVENT_CONTENT_TAG), str(tenant), str(session), u64(seq), str(type), u32(keyVersion)]);
}

/** Associated data of a v2 event: its place (tenant, session, seq), type, seal version and every clear column. */
export function contentAadV2(e: Omit<HashedColumns, 'nonce' | 'ciphertext'>): Uint8Array {
  return frame([
    str(EVENT_CONTENT_TAG_V2),
    str(e.tenant),
    str(e.session),
    u64(e.seq),
    str(e.type),
    u32(e.keyVersion),
    ...clearColumns(e),
  ]);
}

/** The clear columns, in the order both the chain hash and the v2 associated data take them. */
function clearColumns(e: Omit<HashedColumns, 'nonce' | 'ciphertext'>): Field[] {
  return [
    u64(e.at.getTime()),
    str(e.correlationId),
    opt(e.idempotencyKey, str),
    opt(e.tool, str),
    opt(e.promptTokens, u64),
    opt(e.completionTokens, u64),
    opt(e.costUsd, f64),
    opt(e.durationMs, u64),
  ];
}

/** What a v2 event's key is derived from, under the session data key. */
export function eventKeyInput(tenant: string, session: string, seq: number): Uint8Array {
  return frame([str(EVENT_KEY_TAG), str(tenant), str(session), u64(seq)]);
}
