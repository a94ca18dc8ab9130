import { randomUUID } from 'node:crypto';
import { correlationId as validCorrelationId, parseEvents, type EventInput, type StoredEvent } from '../domain';
import { InputError, IntegrityError, StorageError } from '../errors';
import { toHex } from '../crypto';
import { GENESIS_HASH, sealEvent } from '../events';
import { appendEventsInTransaction, constraintOf, findIdempotent, sqlState, storageError, transaction, withTenant } from '../store';
import { currentCorrelationId, withContext } from '../observability';
import { signCheckpoint } from '../audit';
import type { VaultDeps } from './deps';
import { openSession } from './open-session';
import { restoreSession } from './archive';
import { requireSignedHead } from './signed-head';

export interface AppendOptions {
  /** Stamped on every event that carries none. Default: the ambient one, else a new UUID. */
  correlationId?: string;
  /** Names the agent when this append creates the session. */
  agent?: string;
}

/** What an append stored (or, for a retried idempotent append, had stored). */
export interface AppendResult {
  tenant: string;
  session: string;
  appended: number;
  firstSeq: number;
  lastSeq: number;
  /** Hex hash of the chain after the last event of this batch. */
  head: string;
  correlationId: string;
  /** True when every event's idempotency key was already stored: nothing new was written. */
  deduplicated: boolean;
}

const MAX_ATTEMPTS = 64;

/**
 * Appends a batch atomically: validate → seal each event with its seq → chain →
 * one statement that checks the head and inserts (store/queries/append-events.ts).
 * Resolves only after the database committed. On a concurrent append by another
 * process, reloads the head, re-seals (seq is in the associated data) and retries.
 * Nothing is written when any event is invalid (InputError, before any I/O).
 */
export async function append(
  deps: VaultDeps,
  tenant: string,
  session: string,
  inputs: readonly unknown[],
  options: AppendOptions = {},
): Promise<AppendResult> {
  const events = parseEvents(inputs);
  const keys = idempotencyKeys(events);
  const correlationId = validCorrelationId(options.correlationId ?? currentCorrelationId() ?? randomUUID());
  if (options.agent !== undefined && (options.agent.length === 0 || options.agent.length > 128 || /[\u0000-\u001f\u007f]/.test(options.agent))) {
    throw new InputError('INVALID_INPUT', 'agent name must be 1..128 characters, none of them control characters');
  }
  return withContext({ correlationId, tenant, session }, () =>
    deps.mutex.run(`${tenant}\u0000${session}`, async () => {
      const signer = await deps.signer();
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const s =
          deps.cache.get(tenant, session) ?? (await openSession(deps, tenant, session, { agent: options.agent ?? null, signer }));
        // A retry is found by the unique index on the keys, not by a read before every keyed
        // append to an active session: a key already stored fails the statement (23505,
        // nothing written) or the head has moved past it, and either way the next attempt
        // looks here first. A session that is not active is looked in at once, as its
        // append would be refused.
        if (keys.length > 0 && (attempt > 1 || s.status !== 'active')) {
          const earlier = await previouslyAppended(deps, tenant, session, events, keys);
          if (earlier) return earlier;
        }
        if (s.status === 'archived') {
          // Appending to an archived session brings it back to hot storage first.
          await restoreSession(deps, tenant, session);
          deps.cache.delete(tenant, session);
          continue;
        }
        if (s.status !== 'active') {
          throw new StorageError('STORAGE_REFUSED', `session ${tenant}/${session} is ${s.status}; it cannot be appended to`);
        }
        if (signer && s.headFromStore) {
          // A head this process did not write must be signed before it is signed over.
          await requireSignedHead(deps, signer, tenant, session, s);
          s.headFromStore = false;
        }
        const rows = seal(deps, tenant, session, events, s, correlationId);
        const head = rows[rows.length - 1]!;
        // The batch's head is signed now and stored with the batch, in the same statement.
        const checkpoint = signer
          ? { keyId: signer.id, note: signCheckpoint({ tenant, session, seq: head.seq, hash: head.hash, time: head.at }, signer) }
          : null;
        let ok: boolean;
        try {
          ok = await writeBatch(deps, tenant, session, s.headSeq, rows, checkpoint);
        } catch (e) {
          if (sqlState(e) !== '23505') throw storageError(e, 'appending events');
          if (constraintOf(e) === CHECKPOINT_KEY) throw checkpointTaken(tenant, session, s.headSeq + 1);
          ok = false; // a concurrent writer took the seq or idempotency key; reload and look again
        }
        const last = head;
        if (ok) {
          s.headSeq = last.seq;
          s.headHash = new Uint8Array(last.hash); // a copy: the row's hash is a view that keeps its slab (crypto/primitives.ts slabBytes)
          s.lastAt = last.at;
          if (signer) s.readableHead = { seq: last.seq, hash: s.headHash }; // signed in the same statement
          deps.logger.info({ op: 'append', appended: rows.length, firstSeq: rows[0]!.seq, lastSeq: last.seq, attempt }, 'appended');
          return {
            tenant,
            session,
            appended: rows.length,
            firstSeq: rows[0]!.seq,
            lastSeq: last.seq,
            head: toHex(last.hash),
            correlationId,
            deduplicated: false,
          };
        }
        deps.logger.debug({ op: 'append', attempt, expectedSeq: s.headSeq }, 'head moved; reloading');
        deps.cache.delete(tenant, session);
        await backoff(attempt);
      }
      throw new StorageError('APPEND_CONTENDED', `gave up appending to ${tenant}/${session} after ${MAX_ATTEMPTS} conflicting attempts`);
    }),
  );
}

/** The checkpoints table's primary key (drizzle/0004_checkpoints.sql): one row a seq and signing key. */
const CHECKPOINT_KEY = 'checkpoints_tenant_id_session_id_seq_key_id_pk';

/**
 * An append's checkpoint collided with a row already stored under this vault's key at the
 * seq it appends. No append of a vault can have stored it: the statement moves the head
 * before it stores the checkpoint, so a concurrent writer at that seq finds the head
 * moved and stores nothing. Someone stored it ahead of the head with database credentials,
 * and every attempt would meet it: refused at once instead of retried. The session takes
 * no appends while it stands (verify names it, malformed_checkpoint or
 * untrusted_checkpoint_key).
 */
function checkpointTaken(tenant: string, session: string, seq: number): IntegrityError {
  return new IntegrityError(
    'CHAIN_BROKEN',
    `a checkpoint of ${tenant}/${session} at seq ${seq}, under this vault's signing key, was stored before the event it would sign: written outside the vault (verify names it); nothing was appended`,
  );
}

/** Events one session_vault_append statement carries; a larger batch is several, in one transaction. */
const APPEND_CHUNK = 1000;

class HeadMoved extends Error {}

/**
 * Writes a sealed batch: one statement (shared with other sessions' batches when they
 * come together: group-commit.ts), or for a batch over APPEND_CHUNK events one
 * statement a chunk inside one transaction, so the batch stays atomic while no statement
 * (and no embedded store's memory) has to hold it whole; the head is signed on the last.
 * False, writing nothing, when the head is no longer at `expectedSeq`.
 */
async function writeBatch(deps: VaultDeps, tenant: string, session: string, expectedSeq: number, rows: readonly StoredEvent[], checkpoint: { keyId: string; note: string } | null): Promise<boolean> {
  if (rows.length <= APPEND_CHUNK) return deps.appends.write(tenant, { session, expectedSeq, rows, checkpoint });
  try {
    return await transaction(deps.store.db, async (tx) => {
      for (let i = 0; i < rows.length; i += APPEND_CHUNK) {
        const last = i + APPEND_CHUNK >= rows.length;
        if (!(await appendEventsInTransaction(tx, tenant, session, expectedSeq + i, rows.slice(i, i + APPEND_CHUNK), last ? checkpoint : null))) throw new HeadMoved();
      }
      return true;
    });
  } catch (e) {
    if (e instanceof HeadMoved) return false; // rolled back: nothing written
    throw e;
  }
}

function seal(
  deps: VaultDeps,
  tenant: string,
  session: string,
  events: readonly EventInput[],
  s: { dataKey: import('../crypto').SecretBytes; dataKeyVersion: number; headSeq: number; headHash: Uint8Array | null; lastAt: Date | null },
  correlationId: string,
): StoredEvent[] {
  // Times never go backwards within a session, so "state as of a time" is a prefix.
  const now = deps.clock();
  const at = s.lastAt && s.lastAt.getTime() > now.getTime() ? s.lastAt : now;
  let prevHash = s.headHash ?? GENESIS_HASH;
  return events.map((input, i) => {
    const row = sealEvent(input, {
      tenant,
      session,
      seq: s.headSeq + 1 + i,
      at,
      correlationId,
      prevHash,
      dataKey: s.dataKey,
      pad: deps.padContent,
    });
    prevHash = row.hash;
    return row;
  });
}

function idempotencyKeys(events: readonly EventInput[]): string[] {
  const keys = events.flatMap((e) => (e.idempotencyKey === undefined ? [] : [e.idempotencyKey]));
  if (new Set(keys).size !== keys.length) {
    throw new InputError('INVALID_EVENT', 'the same idempotencyKey appears twice in one batch');
  }
  return keys;
}

/**
 * The original result when every event of the batch was stored before (a retry), null
 * when none was. A batch that is partly stored is a different batch reusing keys:
 * IDEMPOTENCY_CONFLICT, nothing written.
 */
async function previouslyAppended(
  deps: VaultDeps,
  tenant: string,
  session: string,
  events: readonly EventInput[],
  keys: readonly string[],
): Promise<AppendResult | null> {
  const found = await withTenant(deps.store.db, tenant, 'checking idempotency keys', (tx) => findIdempotent(tx, tenant, session, keys));
  if (found.length === 0) return null;
  if (found.length !== events.length) {
    throw new InputError(
      'IDEMPOTENCY_CONFLICT',
      `${found.length} of this batch's idempotency keys were already used by another append to ${tenant}/${session}`,
    );
  }
  found.sort((a, b) => a.seq - b.seq);
  const first = found[0]!;
  const last = found[found.length - 1]!;
  deps.logger.info({ op: 'append', deduplicated: found.length }, 'retried append; returning the original result');
  return {
    tenant,
    session,
    appended: found.length,
    firstSeq: first.seq,
    lastSeq: last.seq,
    head: toHex(last.hash),
    // The original append's correlation id, not this retry's: the result is that append's.
    correlationId: first.correlationId,
    deduplicated: true,
  };
}

function backoff(attempt: number): Promise<void> {
  const ms = Math.min(50, 2 * attempt) * Math.random();
  return new Promise((r) => setTimeout(r, ms));
}
