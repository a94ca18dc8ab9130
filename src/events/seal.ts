import type { ClearFields, EventInput, StoredEvent, VaultEvent } from '../domain';
import { SecretBytes, open, seal, toHex } from '../crypto';
import { contentAad, eventHash } from './encoding';
import { joinEvent, splitEvent } from './payload';

/** Where an event goes in its chain; everything sealing needs besides the event itself. */
export interface SealContext {
  tenant: string;
  session: string;
  seq: number;
  at: Date;
  correlationId: string;
  prevHash: Uint8Array;
  keyVersion: number;
  dataKey: SecretBytes;
}

/** Seals an event's secret part and links it into the chain, producing the row to store. */
export function sealEvent(input: EventInput, ctx: SealContext): StoredEvent {
  const { clear, secret } = splitEvent(input);
  const plaintext = Buffer.from(JSON.stringify(secret), 'utf8');
  const sealed = seal(ctx.dataKey, plaintext, contentAad(ctx.tenant, ctx.session, ctx.seq, input.type, ctx.keyVersion));
  const row = {
    tenant: ctx.tenant,
    session: ctx.session,
    seq: ctx.seq,
    type: input.type,
    at: ctx.at,
    correlationId: input.correlationId ?? ctx.correlationId,
    idempotencyKey: input.idempotencyKey ?? null,
    ...clear,
    keyVersion: ctx.keyVersion,
    nonce: sealed.nonce,
    ciphertext: sealed.ciphertext,
  };
  return { ...row, hash: eventHash(ctx.prevHash, row) };
}

/** Opens a stored event with its session's data key. Throws KeyError(DECRYPTION_FAILED). */
export function openEvent(row: StoredEvent, dataKey: SecretBytes): VaultEvent {
  if (row.type === 'key_shredded' && row.keyVersion === 0) {
    // A shred marker is clear by design (operator metadata only): see shred-marker.ts.
    return { seq: row.seq, type: row.type, at: row.at, correlationId: row.correlationId, hash: toHex(row.hash), data: JSON.parse(Buffer.from(row.ciphertext).toString('utf8')) };
  }
  const plaintext = open(dataKey, row, contentAad(row.tenant, row.session, row.seq, row.type, row.keyVersion));
  const secret = JSON.parse(Buffer.from(plaintext).toString('utf8')) as Record<string, unknown>;
  return {
    seq: row.seq,
    type: row.type,
    at: row.at,
    correlationId: row.correlationId,
    hash: toHex(row.hash),
    data: joinEvent(row.type, clearOf(row), secret),
  };
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
