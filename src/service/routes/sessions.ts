import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { keyedBatch, type VaultEvent } from '../../domain';
import { InputError } from '../../errors';
import type { Principal } from '../../vault';
import { endpoint, type ServiceContext } from '../endpoint';
import { errorReply } from '../http-errors';
import * as S from '../schemas';

/**
 * Sessions: append, read and replay, and what is known of them without keys.
 *
 * Appends and a writer's reads are *application access* (the agent backend's own
 * sessions; not in the access trail, as in-process). An operator's reads decrypt for a
 * person and are recorded in the access trail as `token:<id>` first.
 */
export function sessionRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const { vault, metrics } = ctx;

  endpoint(app, ctx, {
    method: 'POST',
    url: '/v1/tenants/:tenant/sessions/:session/events',
    allow: ['writer'],
    summary: 'Append events to a session',
    description:
      'Atomic: every event is stored, or none. Acknowledged only after commit. Creates the session on its first append. ' +
      'An event without `correlationId` gets the request\'s (X-Correlation-Id, traceparent, or a new one).',
    tags: ['sessions'],
    schema: { params: S.sessionPath, headers: S.idempotencyHeader, body: S.appendBody, response: { 200: S.appendResult, 404: S.errorBody, 409: S.errorBody } },
    handler: async (req) => {
      const key = req.headers['idempotency-key'];
      const events = key === undefined ? req.body.events : keyedBatch(req.body.events, key);
      const started = process.hrtime.bigint();
      try {
        const result = await vault.session(req.params.tenant, req.params.session).appendMany(events, { agent: req.body.agent, correlationId: req.id });
        metrics.appendLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
        metrics.appends.inc({ outcome: result.deduplicated ? 'deduplicated' : 'committed' });
        if (!result.deduplicated) metrics.appendedEvents.inc(result.appended);
        return result;
      } catch (e) {
        metrics.appends.inc({ outcome: 'refused' });
        throw e;
      }
    },
  });

  endpoint(app, ctx, {
    method: 'GET',
    url: '/v1/tenants/:tenant/sessions/:session/events',
    allow: ['writer', 'operator'],
    summary: 'Read decrypted events',
    description:
      'A page of events (`limit`, default 500), each decrypted and checked against the chain; `nextSeq` continues. ' +
      'With `Accept: application/x-ndjson` every event of the range is streamed, one JSON object a line; an error after the first line ends the stream with one `{"error":…}` line. ' +
      'An operator token\'s read is recorded in the access trail (`events`, with X-Vault-Reason) before anything is decrypted.',
    tags: ['sessions'],
    schema: { params: S.sessionPath, querystring: S.eventsQuery, headers: S.reasonHeader, response: { 200: S.eventsPage, 404: S.errorBody } },
    handler: async (req, reply, principal) => {
      const { fromSeq = 1, toSeq, limit = 500 } = req.query;
      const ndjson = /application\/x-ndjson/.test(req.headers.accept ?? '');
      const last = ndjson ? toSeq : Math.min(toSeq ?? Number.MAX_SAFE_INTEGER, fromSeq + limit);
      const events = await readEvents(ctx, principal, req.params.tenant, req.params.session, fromSeq, last, req.headers['x-vault-reason']);
      if (ndjson) return streamNdjson(reply, events, (e) => wireEvent(e), req.id);
      const page: ReturnType<typeof wireEvent>[] = [];
      let nextSeq: number | null = null;
      for await (const e of events) {
        if (page.length === limit) {
          nextSeq = e.seq;
          break;
        }
        page.push(wireEvent(e));
      }
      return { events: page, nextSeq };
    },
  });

  endpoint(app, ctx, {
    method: 'GET',
    url: '/v1/tenants/:tenant/sessions/:session/state',
    allow: ['writer', 'operator'],
    summary: 'Replay the agent state',
    description: 'The state rebuilt from decrypted events, now, after `atSeq`, or at time `at`; with `window`, only the last N entries of each list (an agent\'s per-turn read, in constant time). An operator token\'s replay is recorded in the access trail (`replay`).',
    tags: ['sessions'],
    schema: { params: S.sessionPath, querystring: S.stateQuery, headers: S.reasonHeader, response: { 200: S.agentState, 404: S.errorBody } },
    handler: async (req, _reply, principal) => {
      const { atSeq, at, window } = req.query;
      if (atSeq !== undefined && at !== undefined) throw new InputError('INVALID_INPUT', 'give atSeq or at, not both');
      const point = { atSeq, at: at === undefined ? undefined : new Date(at), window };
      const { tenant, session } = req.params;
      if (principal.role === 'writer') return vault.session(tenant, session).state(point);
      metrics.accessRecords.inc({ action: 'replay' });
      return vault.operator({ actor: principal.actor, reason: req.headers['x-vault-reason'] }).state(tenant, session, point);
    },
  });

  endpoint(app, ctx, {
    method: 'GET',
    url: '/v1/tenants/:tenant/sessions',
    allow: ['reader', 'operator', 'auditor', 'admin'],
    summary: "List a tenant's sessions",
    description: 'Metadata only (no key is used): ids, agent, event count, first and last event time, status.',
    tags: ['sessions'],
    schema: { params: S.tenantPath, response: { 200: z.array(S.sessionSummary), 404: S.errorBody } },
    handler: async (req) => vault.sessions(req.params.tenant),
  });

  endpoint(app, ctx, {
    method: 'GET',
    url: '/v1/tenants/:tenant/sessions/:session',
    allow: ['writer', 'reader', 'operator', 'auditor', 'admin'],
    summary: 'Describe one session',
    description: 'Metadata only: the head seq (`events`), agent, times and status.',
    tags: ['sessions'],
    schema: { params: S.sessionPath, response: { 200: S.sessionSummary, 404: S.errorBody } },
    handler: async (req) => vault.sessionInfo(req.params.tenant, req.params.session),
  });
}

/** A writer reads as the application; an operator's read is recorded first (and refused if it cannot be). */
async function readEvents(ctx: ServiceContext, p: Principal, tenant: string, session: string, fromSeq: number, toSeq: number | undefined, reason: string | undefined): Promise<AsyncIterable<VaultEvent>> {
  if (p.role === 'writer') {
    const events = ctx.vault.session(tenant, session).events({ fromSeq, toSeq });
    // Pull the first event now, so an unknown session is a 404 rather than a broken stream.
    return primed(events);
  }
  ctx.metrics.accessRecords.inc({ action: 'events' });
  return primed(await ctx.vault.operator({ actor: p.actor, reason }).events(tenant, session, { fromSeq, toSeq }));
}

async function primed<T>(source: AsyncIterable<T>): Promise<AsyncIterable<T>> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  return {
    async *[Symbol.asyncIterator]() {
      try {
        if (first.done) return;
        yield first.value;
        for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
      } finally {
        await it.return?.();
      }
    },
  };
}

export function wireEvent(e: VaultEvent): { seq: number; type: VaultEvent['type']; correlationId: string; at: string; data: Record<string, unknown> } {
  return { seq: e.seq, type: e.type, correlationId: e.correlationId, at: e.at.toISOString(), data: e.data };
}

/** Streams records as NDJSON; an error after the headers went out becomes a last `{"error":…}` line. */
export function streamNdjson<T>(reply: FastifyReply, source: AsyncIterable<T>, wire: (t: T) => unknown, correlationId: string): FastifyReply {
  async function* lines(): AsyncGenerator<string> {
    try {
      for await (const item of source) yield `${JSON.stringify(wire(item))}\n`;
    } catch (e) {
      yield `${JSON.stringify(errorReply(e, correlationId).body)}\n`;
    }
  }
  return reply.type('application/x-ndjson; charset=utf-8').send(Readable.from(lines()));
}
