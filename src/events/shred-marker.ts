import type { StoredEvent } from '../domain';
import { AEAD_NONCE_BYTES } from '../crypto';
import { eventHash } from './encoding';
import type { SealContext } from './seal';

/**
 * The `key_shredded` event that closes a session's chain when its key is destroyed.
 * It holds operator metadata only (who, why), so it is stored in clear: key version 0
 * (no key), a nonce of zeros, and the UTF-8 JSON `{"actor","reason"}` in the ciphertext
 * column. Like every event it is hashed into the chain (and signed in a checkpoint), so
 * an auditor sees, in the session's own log, when and by whom it was erased, and that
 * nothing was appended after.
 */
export const CLEAR_KEY_VERSION = 0;

export function shredMarker(ctx: Omit<SealContext, 'dataKey'> & { actor: string; reason: string | null }): StoredEvent {
  const row = {
    tenant: ctx.tenant,
    session: ctx.session,
    seq: ctx.seq,
    type: 'key_shredded' as const,
    at: ctx.at,
    correlationId: ctx.correlationId,
    idempotencyKey: null,
    tool: null,
    promptTokens: null,
    completionTokens: null,
    costUsd: null,
    durationMs: null,
    keyVersion: CLEAR_KEY_VERSION,
    nonce: new Uint8Array(AEAD_NONCE_BYTES),
    ciphertext: new Uint8Array(Buffer.from(JSON.stringify({ actor: ctx.actor, reason: ctx.reason }), 'utf8')),
  };
  return { ...row, hash: eventHash(ctx.prevHash, row) };
}

/** The who and why of a shred marker (its content is clear). */
export function readShredMarker(e: StoredEvent): { actor: string; reason: string | null } {
  return JSON.parse(Buffer.from(e.ciphertext).toString('utf8')) as { actor: string; reason: string | null };
}
