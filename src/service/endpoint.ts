import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { RawServerDefault, RawRequestDefaultExpression, RouteGenericInterface } from 'fastify';
import type { z } from 'zod';
import { InputError } from '../errors';
import { withContext } from '../observability';
import type { Role } from '../tokens';
import type { Principal, Vault } from '../vault';
import type { TokenCache } from './auth';
import type { ServiceMetrics } from './metrics';
import { errorBody } from './schemas';
import { ServiceRefusal, loggedError } from './http-errors';

/** What every route handler shares. */
export interface ServiceContext {
  vault: Vault;
  tokens: TokenCache;
  metrics: ServiceMetrics;
  /** Every authenticated endpoint, as registered: the role matrix (tests and docs read it). */
  endpoints: EndpointInfo[];
}

/** One authenticated endpoint: where, and which roles may call it. */
export interface EndpointInfo {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  allow: readonly Role[];
  summary: string;
}

type Req<S extends FastifySchema> = FastifyRequest<RouteGenericInterface, RawServerDefault, RawRequestDefaultExpression, S, ZodTypeProvider>;

export interface EndpointSpec<S extends FastifySchema> extends EndpointInfo {
  description?: string;
  tags: string[];
  schema: S;
  handler: (req: Req<S>, reply: FastifyReply, principal: Principal) => Promise<unknown>;
}

const principals = new WeakMap<object, Principal>();

/**
 * Registers an authenticated endpoint. Before the body is even read, the token is
 * resolved to a principal (401 otherwise), the path's tenant must be the token's tenant
 * and the token's role one of `allow` (403 otherwise): a token of tenant A never reaches
 * tenant B's data, whatever the endpoint. The handler then runs with the request's
 * correlation id, tenant and session as its logging and append context.
 */
export function endpoint<S extends FastifySchema>(app: FastifyInstance, ctx: ServiceContext, spec: EndpointSpec<S>): void {
  ctx.endpoints.push({ method: spec.method, url: spec.url, allow: spec.allow, summary: spec.summary });
  const response = { ...((spec.schema.response as Record<number, z.ZodType>) ?? {}), 400: errorBody, 401: errorBody, 403: errorBody, 429: errorBody, 500: errorBody, 503: errorBody };
  app.withTypeProvider<ZodTypeProvider>().route({
    method: spec.method,
    url: spec.url,
    schema: {
      ...spec.schema,
      response,
      summary: spec.summary,
      description: `${spec.description ? `${spec.description}\n\n` : ''}Roles: ${spec.allow.join(', ')}.`,
      tags: spec.tags,
      security: [{ bearer: [] }],
    } as FastifySchema,
    onRequest: async (req) => {
      let principal: Principal;
      try {
        principal = await ctx.tokens.principal(req.headers.authorization, req.ip);
      } catch (e) {
        ctx.metrics.authFailures.inc({ status: e instanceof ServiceRefusal ? '429' : '401' });
        throw e;
      }
      const tenant = (req.params as { tenant?: string }).tenant;
      if (tenant !== undefined && tenant !== principal.tenant) {
        ctx.metrics.authFailures.inc({ status: '403' });
        throw new InputError('FORBIDDEN', `this token is not scoped to tenant ${printableId(tenant)}`);
      }
      if (!spec.allow.includes(principal.role)) {
        ctx.metrics.authFailures.inc({ status: '403' });
        throw new InputError('FORBIDDEN', `a ${principal.role} token may not ${spec.summary.charAt(0).toLowerCase()}${spec.summary.slice(1)}`);
      }
      principals.set(req, principal);
    },
    handler: async (req, reply) => {
      const principal = principals.get(req)!;
      const params = req.params as { tenant?: string; session?: string };
      let result: unknown;
      try {
        result = await withContext({ correlationId: req.id, tenant: params.tenant, session: params.session }, () => spec.handler(req as unknown as Req<S>, reply, principal));
      } catch (e) {
        if (!reply.sent) throw e;
        // Answered meanwhile (503 HANDLER_TIMEOUT, OverdueRequests): logged as the error
        // handler logs any failure (type and code, never the message), not by Fastify.
        req.log.error({ err: loggedError(e) }, 'request failed after it was answered');
        return undefined;
      }
      // Answered meanwhile: what it returns has nowhere to go, and handed to Fastify it
      // would be logged as a reply sent twice.
      return reply.sent ? undefined : result;
    },
  });
}

/** An id from a URL, safe to echo: path ids failed no pattern yet when this runs, so it is cut and stripped. */
function printableId(s: string): string {
  return s.replace(/[^\x21-\x7e]/g, '?').slice(0, 64);
}
