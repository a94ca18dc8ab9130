import { z } from 'zod';
import { eventInput, SESSION_ID_PATTERN, STORED_EVENT_TYPES, TENANT_ID_PATTERN, TOKEN_PATTERN } from '../domain';
import { ROLES, TOKEN_ID_PATTERN } from '../tokens';
import { trailLineSchema } from '../audit';

/**
 * The service's request and response shapes, in zod: Fastify validates with them and
 * docs/openapi.json is generated from them, so the document says what the server does.
 * Events are the library's own `eventInput`: the same rules as `append` in-process.
 */
export const tenantParam = z.string().regex(TENANT_ID_PATTERN).describe('tenant id');
export const sessionParam = z.string().regex(SESSION_ID_PATTERN).describe('session id');
export const tenantPath = z.object({ tenant: tenantParam });
export const sessionPath = z.object({ tenant: tenantParam, session: sessionParam });
export const tokenPath = z.object({ tenant: tenantParam, id: z.string().regex(TOKEN_ID_PATTERN).describe('token id') });

export const errorBody = z
  .object({ error: z.object({ code: z.string().describe('stable machine-readable code, as the CLI prints in error[CODE]'), message: z.string(), correlationId: z.string() }) })
  .describe('an error');

const json = z.unknown().describe('any JSON value');
const seq = z.number().int().min(1);
const seqQuery = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const isoQuery = z.iso.datetime({ offset: true }).describe('ISO-8601 time');

export const appendBody = z
  .strictObject({
    events: z.array(eventInput).min(1).max(1000).describe('stored atomically, in order: all or none'),
    agent: z.string().min(1).max(128).optional().describe('names the agent when this call creates the session'),
  })
  .describe('one or more events to append');

export const appendResult = z.object({
  tenant: z.string(),
  session: z.string(),
  appended: z.number().int(),
  firstSeq: z.number().int(),
  lastSeq: z.number().int(),
  head: z.string().describe('hex hash of the chain after the last event of this batch'),
  correlationId: z.string(),
  deduplicated: z.boolean().describe('every event was a retry of one already stored under its idempotency key: nothing new was written'),
});

export const storedEvent = z.object({
  seq,
  type: z.enum(STORED_EVENT_TYPES),
  correlationId: z.string(),
  at: z.string().describe('ISO-8601 time the vault stored it'),
  data: z.record(z.string(), json),
});

export const eventsQuery = z.strictObject({
  fromSeq: seqQuery.optional().describe('first seq (default 1)'),
  toSeq: seqQuery.optional().describe('last seq (default: the head)'),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe('events in this page (default 500); ignored when streaming NDJSON'),
});

export const eventsPage = z.object({
  events: z.array(storedEvent),
  nextSeq: z.number().int().nullable().describe('fromSeq of the next page, or null at the end of the range'),
});

export const stateQuery = z.strictObject({
  atSeq: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe('the state as it stood after this seq'),
  at: isoQuery.optional().describe('the state as it stood at this time'),
  window: z.coerce.number().int().min(1).max(100_000).optional().describe('only the last N entries of each list (messages, tool calls, agent items, model errors); up to the vault\'s snapshotWindow (default 100) this costs the same at any session length'),
});

export const agentState = z
  .object({
    tenant: z.string(),
    session: z.string(),
    agent: z.string().nullable(),
    lastSeq: z.number().int(),
    head: z.string().nullable(),
    lastAt: z.string().nullable(),
    messages: z.array(z.record(z.string(), json)),
    toolCalls: z.array(z.record(z.string(), json)),
    toolState: z.record(z.string(), json),
    worldState: z.record(z.string(), json),
    currentTask: z.string().nullable(),
    summary: z.object({ content: z.string(), throughSeq: z.number().int() }).nullable(),
    usage: z.object({ promptTokens: z.number(), completionTokens: z.number(), costUsd: z.number() }),
    modelErrors: z.array(z.record(z.string(), json)),
    agentItems: z.array(z.object({ seq: z.number().int(), item: json })),
    window: z
      .object({
        size: z.number().int(),
        omitted: z.object({ messages: z.number().int(), toolCalls: z.number().int(), agentItems: z.number().int(), modelErrors: z.number().int() }),
      })
      .optional()
      .describe('present when a window was asked for: its size, and how many earlier entries of each list it left out'),
  })
  .describe('the agent state replayed from decrypted events (the CLI `replay --json` shape)');

export const sessionSummary = z.object({
  session: z.string(),
  agent: z.string().nullable(),
  events: z.number().int(),
  firstAt: z.string().nullable(),
  lastAt: z.string().nullable(),
  status: z.enum(['active', 'archived', 'purged']),
});

export const scopeBody = z.strictObject({ session: sessionParam.optional().describe('one session; default: every session of the tenant') });

export const verifyReport = z.object({
  ok: z.boolean(),
  sessions: z.number().int(),
  events: z.number().int(),
  problems: z.array(z.object({ tenant: z.string().nullable(), session: z.string().nullable(), seq: z.number().int().nullable(), kind: z.string() }).loose()),
});

export const checkpointResults = z.array(
  z.object({ tenant: z.string(), session: z.string(), seq: z.number().int(), head: z.string(), witness: z.enum(['recorded', 'unchanged', 'superseded', 'witness_ahead', 'witness_fork', 'none', 'unsigned_head']) }),
);

export const exportQuery = z.strictObject({
  decrypt: z.enum(['true', 'false']).optional().describe('include plaintext (operator role only)'),
});

export const accessQuery = z.strictObject({
  since: isoQuery.optional().describe('from the last record dated at least 5 minutes before this time: the listing `verify-trail --since` checks; not with afterSeq'),
  afterSeq: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe('only records after this seq: the listing `verify-trail --from-head` checks from the head at that seq'),
});
export const sessionAccessQuery = accessQuery.pick({ afterSeq: true });

/** A line of the access trail as a file (audit/trail-file.ts): a record in full, or another tenant's withheld. */
export const accessRecord = trailLineSchema;

export const reasonBody = z.strictObject({ reason: z.string().min(1).max(1000).describe('recorded in the access trail and on the hold') });

export const hold = z.object({ tenant: z.string(), session: z.string(), reason: z.string(), setBy: z.string(), setAt: z.string() });

/** `status` after the change: a hold placed on an archived session brings it back (`active`); `archived` when that failed, and the next retention run tries again. */
export const holdChange = z.object({ tenant: z.string(), session: z.string(), held: z.boolean(), changed: z.boolean(), status: z.enum(['active', 'archived', 'purged']) });

export const retentionView = z.object({
  tenant: z.string(),
  archiveAfter: z.string(),
  retain: z.string(),
  source: z.enum(['tenant', 'default']),
  mode: z.enum(['governance', 'compliance']),
  setBy: z.string().nullable(),
  setAt: z.string().nullable(),
});

export const retentionBody = z.strictObject({
  archiveAfter: z.string().min(1).max(32).describe('e.g. 30d'),
  retain: z.string().min(1).max(32).describe('e.g. 7y'),
  mode: z.enum(['governance', 'compliance']).optional(),
  overrideFloors: z.boolean().optional().describe('governance mode only; needs a reason (X-Vault-Reason)'),
});

export const keyInfo = z.object({ version: z.number().int(), state: z.string(), createdAt: z.string(), masterKeyId: z.string(), sessions: z.number().int() });

export const rotation = z.object({ version: z.number().int(), previous: z.number().int() });

export const tokenInfo = z.object({
  id: z.string(),
  tenant: z.string(),
  role: z.enum(ROLES),
  label: z.string().nullable(),
  createdAt: z.string(),
  createdBy: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  revokedBy: z.string().nullable(),
});

export const tokenBody = z.strictObject({
  role: z.enum(ROLES),
  label: z.string().regex(TOKEN_PATTERN).optional(),
  expiresAt: isoQuery.optional(),
});

export const createdToken = tokenInfo.extend({ token: z.string().describe('the secret token: shown this once, stored only as a hash') });

export const whoami = z.object({ tenant: z.string(), tokenId: z.string(), role: z.enum(ROLES), label: z.string().nullable() });

export const idempotencyHeader = z.object({
  'idempotency-key': z.string().regex(TOKEN_PATTERN).max(100).optional().describe('a retry with the same key stores nothing new: event i of the batch gets key `<key>:<i>` unless it carries its own'),
}).loose();

export const reasonHeader = z.object({
  'x-vault-reason': z.string().min(1).max(1000).optional().describe('why: recorded in the access trail with the principal'),
}).loose();
