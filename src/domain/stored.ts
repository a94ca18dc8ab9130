import type { EventData, StoredEventType } from './events';

/** The columns operators can query without keys. Everything else is sealed. */
export interface ClearFields {
  tool: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  costUsd: number | null;
  durationMs: number | null;
}

/** One event row exactly as stored: clear metadata, key version, nonce, ciphertext, hash. */
export interface StoredEvent extends ClearFields {
  tenant: string;
  session: string;
  seq: number;
  type: StoredEventType;
  at: Date;
  correlationId: string;
  idempotencyKey: string | null;
  keyVersion: number;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  hash: Uint8Array;
}

/** One decrypted event, as `events` and replay see it. */
export interface VaultEvent {
  seq: number;
  type: StoredEventType;
  at: Date;
  correlationId: string;
  /** Hex of the chain hash after this event. */
  hash: string;
  data: EventData;
}
