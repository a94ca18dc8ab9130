import type { ClearFields, EventInput, StoredEvent, VaultEvent } from '../domain';
import { KeyError } from '../errors';
import { SecretBytes, deriveKey, openText, sealText, toHex, withDerivedKey } from '../crypto';
import { SEAL_V1, SEAL_V2, SEAL_V3, contentAad, encodable, eventHash, withContentAadV2, withEventKeyInput } from './encoding';
import { joinEvent, splitEvent } from './payload';

/** Where an event goes in its chain; everything sealing needs besides the event itself. */
export interface SealContext {
  tenant: string;
  session: string;
  seq: number;
  at: Date;
  correlationId: string;
  prevHash: Uint8Array;
  dataKey: SecretBytes;
  /** Seal with padding (v3), the default; false: v2, which a version before padding reads too. */
  pad?: boolean;
}

/** The key of one v2 event: keyed BLAKE2b of its place under the session data key. The caller disposes it. */
export function eventKey(dataKey: SecretBytes, tenant: string, session: string, seq: number): SecretBytes {
  return withEventKeyInput(tenant, session, seq, (input) => deriveKey(dataKey, input));
}

/**
 * Seals an event's secret part (v3: the event's own key, every clear column bound as
 * associated data, the plaintext padded; v2 unpadded) and links it into the chain,
 * producing the row to store.
 */
export function sealEvent(input: EventInput, ctx: SealContext): StoredEvent {
  const { clear, secret } = splitEvent(input);
  const text = JSON.stringify(secret);
  const pad = ctx.pad !== false;
  // The row is built once, in one shape, and filled in as sealing goes: every column is
  // bound into the associated data first, then the nonce and ciphertext, then the hash
  // over all of them. (Spreading it anew at each step cost about a tenth of sealing.)
  const row: StoredEvent = {
    tenant: ctx.tenant,
    session: ctx.session,
    seq: ctx.seq,
    type: input.type,
    at: ctx.at,
    correlationId: input.correlationId ?? ctx.correlationId,
    idempotencyKey: input.idempotencyKey ?? null,
    tool: clear.tool,
    promptTokens: clear.promptTokens,
    completionTokens: clear.completionTokens,
    costUsd: clear.costUsd,
    durationMs: clear.durationMs,
    keyVersion: pad ? SEAL_V3 : SEAL_V2,
    nonce: NONE,
    ciphertext: NONE,
    hash: NONE,
  };
  // The event's own key, derived into memory reused from event to event and zeroed after
  // (as opening does): a key of its own each time, allocated, zeroed and collected, cost
  // about a tenth of sealing an event.
  const sealed = withEventKeyInput(ctx.tenant, ctx.session, ctx.seq, (input) =>
    withDerivedKey(ctx.dataKey, input, (key) => withContentAadV2(row, (aad) => sealText(key, text, aad, pad))),
  );
  row.nonce = sealed.nonce;
  row.ciphertext = sealed.ciphertext;
  row.hash = eventHash(ctx.prevHash, row);
  return row;
}

/** The bytes a row's nonce, ciphertext and hash hold until they are computed. */
const NONE = new Uint8Array(0);

/**
 * The key that opens a stored event: its session's data key (which opens every event),
 * or the event's own key as a decrypting export discloses it (which opens that one only).
 */
export type OpeningKey = { dataKey: SecretBytes } | { eventKey: SecretBytes };

/** Opens a stored event. Throws KeyError(DECRYPTION_FAILED), and no more detail, when it does not open. */
export function openEvent(row: StoredEvent, dataKey: SecretBytes | OpeningKey): VaultEvent {
  const k: OpeningKey = dataKey instanceof SecretBytes ? { dataKey } : dataKey;
  if (row.type === 'key_shredded' && row.keyVersion === 0) {
    // A shred marker is clear by design (operator metadata only): see shred-marker.ts.
    return { seq: row.seq, type: row.type, at: row.at, correlationId: row.correlationId, hash: toHex(row.hash), data: JSON.parse(Buffer.from(row.ciphertext).toString('utf8')) };
  }
  // A row whose place or clear columns have no encoding (only a DBA writes one) is refused as any rewritten one is.
  const text = encodable(() => openedText(row, k));
  if (text === null) throw new KeyError('DECRYPTION_FAILED', 'decryption failed');
  const secret = JSON.parse(text) as Record<string, unknown>;
  return {
    seq: row.seq,
    type: row.type,
    at: row.at,
    correlationId: row.correlationId,
    hash: toHex(row.hash),
    data: joinEvent(row.type, clearOf(row), secret),
  };
}

/** The opened secret part's JSON text. */
function openedText(row: StoredEvent, k: OpeningKey): string {
  if (row.keyVersion === SEAL_V3 || row.keyVersion === SEAL_V2) {
    // The event's own key: as given, or derived for this one use in memory reused and zeroed after it.
    const padded = row.keyVersion === SEAL_V3;
    return 'eventKey' in k
      ? withContentAadV2(row, (aad) => openText(k.eventKey, row, aad, padded))
      : withEventKeyInput(row.tenant, row.session, row.seq, (input) => withDerivedKey(k.dataKey, input, (key) => withContentAadV2(row, (aad) => openText(key, row, aad, padded))));
  }
  if (row.keyVersion === SEAL_V1 && 'dataKey' in k) return openText(k.dataKey, row, contentAad(row.tenant, row.session, row.seq, row.type, row.keyVersion));
  throw new KeyError('DECRYPTION_FAILED', 'decryption failed');
}

function clearOf(row: ClearFields): ClearFields {
  return {
    tool: row.tool,
    promptTokens: row.promptTokens,
    completionTokens: row.completionTokens,
    costUsd: row.costUsd,
    durationMs: row.durationMs,
  };
}
