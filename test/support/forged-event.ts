import { randomBytes } from 'node:crypto';
import { GENESIS_HASH, eventHash, sealEvent } from '../../src/events';
import type { EventInput, StoredEvent } from '../../src/domain';
import type { SecretBytes } from '../../src/crypto';
import { CLEAR_KEY_VERSION } from '../../src/events/shred-marker';
import { rowsOf } from '../../src/store/types';

type Run = (q: string) => Promise<unknown>;

/**
 * What any role that may append can do with database credentials alone: append onto a
 * session's head one correctly chained event (the chain hash needs no key), through the
 * same function the vault calls. A `message` whose ciphertext no key opens, or a
 * `key_shredded` marker, whose content is clear; or, for a holder of a leaked tenant key
 * version who unwrapped the session's data key, an event sealed with it, which opens. `run` executes SQL in the tenant's scope
 * as the attacking role; `at` is the time it claims. Its seq.
 */
export async function forgeEvent(
  run: Run,
  tenant: string,
  session: string,
  kind: 'garbage' | 'shred-marker' | { sealedWith: SecretBytes; event: EventInput } = 'garbage',
  at = new Date(),
): Promise<number> {
  const [head] = rowsOf<{ head_seq: string; head_hash: Uint8Array | null }>(await run(`SELECT head_seq, head_hash FROM sessions WHERE session_id = '${session}'`));
  const seq = Number(head!.head_seq) + 1;
  const prevHash = head!.head_hash ? new Uint8Array(head!.head_hash) : GENESIS_HASH; // a session with no events yet chains from genesis
  const bare = { tenant, session, seq, at, correlationId: 'x', idempotencyKey: null, tool: null, promptTokens: null, completionTokens: null, costUsd: null, durationMs: null };
  let row: StoredEvent;
  if (typeof kind === 'object') {
    // Sealed with the session's data key, which a holder of its tenant key version unwraps: it opens, as the vault's own do.
    row = sealEvent(kind.event, { tenant, session, seq, at, correlationId: 'x', prevHash, dataKey: kind.sealedWith });
  } else {
    const body =
      kind === 'garbage'
        ? { type: 'message' as const, keyVersion: 2, nonce: new Uint8Array(randomBytes(24)), ciphertext: new Uint8Array(randomBytes(64)) }
        : { type: 'key_shredded' as const, keyVersion: CLEAR_KEY_VERSION, nonce: new Uint8Array(24), ciphertext: new Uint8Array(Buffer.from(JSON.stringify({ actor: 'dana', reason: 'erasure request' }))) };
    row = { ...bare, ...body, hash: new Uint8Array(0) };
    row.hash = eventHash(prevHash, row);
  }
  const hash = row.hash;
  const bytea = (b: Uint8Array) => `'\\x${Buffer.from(b).toString('hex')}'::bytea`;
  await run(
    `SELECT session_vault_append_one('${tenant}', '${session}', ${seq - 1}, '${row.type}', '${row.at.toISOString()}', 'x', NULL, NULL, NULL, NULL, NULL, NULL, ${row.keyVersion}, ${bytea(row.nonce)}, ${bytea(row.ciphertext)}, ${bytea(hash)}, NULL, NULL)`,
  );
  return seq;
}

