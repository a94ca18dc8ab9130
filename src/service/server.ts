import { createHash, randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifyRateLimit from '@fastify/rate-limit';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError, jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { InputError, isVaultError } from '../errors';
import { createLogger, type Logger } from '../observability';
import { parseToken } from '../tokens';
import type { Vault } from '../vault';
import { TokenCache, clientKey } from './auth';
import { correlationFrom } from './correlation';
import type { EndpointInfo, ServiceContext } from './endpoint';
import { ServiceRefusal, errorReply, loggedError, serviceError } from './http-errors';
import { ServiceMetrics } from './metrics';
import { OverdueRequests } from './overdue';
import { adminRoutes } from './routes/admin';
import { auditRoutes } from './routes/audit';
import { healthRoutes } from './routes/health';
import { sessionRoutes } from './routes/sessions';

/** How the service runs. Every limit has a default a bank would start from. */
export interface ServiceOptions {
  /** Largest request body, in bytes. Default 8 MiB (a batch of 1,000 events of ~8 KB). */
  bodyLimit?: number;
  /** Requests per token (or per client address, without a valid-looking token) per `rateWindowMs`. Default 1,000. */
  rateLimit?: number;
  /** Default 1,000 ms. */
  rateWindowMs?: number;
  /** Failed token checks a client address may make a minute before its requests are refused (429) unchecked. Default 60. */
  authFailuresPerMinute?: number;
  /**
   * The addresses (or CIDR ranges) of the proxies in front of the service, whose
   * `X-Forwarded-For` names the client: its address is then the client's, for the failure
   * budget and the rate limit. Default: none, the header is ignored and the address is the
   * peer's (behind a proxy, every client shares the proxy's budget).
   */
  trustProxy?: readonly string[];
  /** A request not received in full by then is answered 408. Default 30,000 ms. */
  requestTimeoutMs?: number;
  /**
   * A handler still running by then is answered 503 HANDLER_TIMEOUT. Default 60,000 ms.
   * An append answered so may still commit: retry it with the same Idempotency-Key.
   */
  handlerTimeoutMs?: number;
  /** How long a token check is remembered (a revocation elsewhere takes effect within it). Default 5,000 ms; 0: never. */
  tokenCacheMs?: number;
  /** On close, how long requests in flight get before their connections are cut. Default 30,000 ms. */
  drainTimeoutMs?: number;
  /** TLS: PEM certificate chain and key. Without them the service speaks plain HTTP (put it behind a TLS proxy). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Default: the vault's log format on stderr at `VAULT_LOG_LEVEL`, else info. */
  logger?: Logger;
}

/** A built service: the Fastify app, its endpoints, and listen/close. */
export interface VaultService {
  readonly app: FastifyInstance;
  /** Every authenticated endpoint with the roles it allows. */
  readonly endpoints: readonly EndpointInfo[];
  /** Starts listening; resolves to the URL it listens on. */
  listen(host: string, port: number): Promise<string>;
  /**
   * Graceful shutdown: readiness turns 503, new requests are refused with 503, requests
   * in flight (appends included) finish and are answered, then the listener closes. The
   * vault stays open: its owner closes it after.
   */
  close(): Promise<void>;
}

export const API_VERSION = '1';

/**
 * The HTTP service over an open vault (docs/service.md). Principals are API tokens
 * (src/tokens): the service holds the keys, clients never do.
 */
export async function buildService(vault: Vault, options: ServiceOptions = {}): Promise<VaultService> {
  const logger = options.logger ?? createLogger({ level: process.env.VAULT_LOG_LEVEL ?? 'info' });
  const metrics = new ServiceMetrics();
  const ctx: ServiceContext = { vault, tokens: new TokenCache(vault, options.tokenCacheMs ?? 5000, options.authFailuresPerMinute ?? 60), metrics, endpoints: [] };
  const state = { draining: false };
  const app = Fastify({
    loggerInstance: logger,
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
    ...(options.trustProxy && options.trustProxy.length > 0 ? { trustProxy: [...options.trustProxy] } : {}),
    bodyLimit: options.bodyLimit ?? 8 * 1024 * 1024,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    connectionTimeout: options.requestTimeoutMs ?? 30_000,
    return503OnClosing: false, // answered by the onRequest hook below, in the service's error shape
    forceCloseConnections: 'idle',
    logController: new LogController({ requestIdLogLabel: 'correlationId' }),
    genReqId: (req) => {
      const c = correlationFrom(req.headers);
      return c && 'id' in c ? c.id : randomUUID();
    },
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'session-vault',
        version: API_VERSION,
        description:
          'The session vault as a service: encrypted, hash-chained, append-only agent sessions. Every call but health, metrics and this document needs `Authorization: Bearer <API token>`; a token has one tenant and one role. Errors are `{"error":{"code","message","correlationId"}}` with the codes of the CLI. See docs/service.md.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API token (`session-vault tokens create`)' } } },
    },
    transform: jsonSchemaTransform,
  });

  await app.register(fastifyRateLimit, {
    global: true,
    max: options.rateLimit ?? 1000,
    timeWindow: options.rateWindowMs ?? 1000,
    // By the token presented (its hash: no lookup, and a forged token naming someone
    // else's id gets a bucket of its own, so it cannot spend theirs), else by client
    // (clientKey: an IPv6 address by its /64). A flood of bad tokens is stopped by the
    // failure budget (TokenCache), before any lookup.
    keyGenerator: (req) => {
      const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
      return m && parseToken(m[1]!) ? `token:${createHash('sha256').update(m[1]!).digest('base64')}` : `addr:${clientKey(req.ip)}`;
    },
    allowList: (req) => req.url === '/healthz' || req.url === '/readyz',
    errorResponseBuilder: (_req, context) => new ServiceRefusal('RATE_LIMITED', `rate limit: at most ${context.max} requests per ${context.after}`),
  });

  // A handler still running past its limit is answered 503 (a stream under way is cut).
  const overdue = new OverdueRequests(options.handlerTimeoutMs ?? 60_000, (reply) => {
    if (reply.raw.headersSent) reply.raw.destroy();
    else void reply.send(new ServiceRefusal('HANDLER_TIMEOUT', 'the request took too long and was abandoned; an append may still have committed: retry with the same Idempotency-Key'));
  });
  app.addHook('onRequest', async (req, reply) => {
    overdue.track(reply);
    void reply.header('x-correlation-id', req.id);
    if (state.draining) throw new ServiceRefusal('SHUTTING_DOWN', 'the service is shutting down: retry against another instance');
    // genReqId took a valid X-Correlation-Id as the request id; one given but not taken was invalid.
    const given = req.headers['x-correlation-id'];
    if (given !== undefined && given !== req.id) throw new InputError('INVALID_INPUT', 'X-Correlation-Id must be 1..128 printable ASCII characters');
  });
  app.addHook('onSend', async (_req, reply) => {
    if (state.draining) void reply.header('connection', 'close'); // no new request on this connection
  });
  app.addHook('onResponse', async (req, reply) => {
    overdue.done(reply);
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.latency.observe({ route, method: req.method }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const id = req.id;
    let out;
    if (err instanceof ServiceRefusal) out = serviceError(err.code, err.message, id);
    else if (hasZodFastifySchemaValidationErrors(err)) out = validationReply(err, req.url, id);
    else if (isVaultError(err)) out = errorReply(err, id);
    else if (isResponseSerializationError(err)) out = serviceError('INTERNAL', 'internal error (the service log has the correlation id)', id);
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') out = serviceError('PAYLOAD_TOO_LARGE', `the body is larger than ${app.initialConfig.bodyLimit} bytes`, id);
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') out = serviceError('UNSUPPORTED_MEDIA_TYPE', 'send application/json', id);
    else if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
      out = { status: 400, body: { error: { code: 'INVALID_INPUT', message: 'the body is not valid JSON', correlationId: id } } };
    } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      out = { status: err.statusCode, body: { error: { code: 'INVALID_INPUT', message: 'the request was refused', correlationId: id } } };
    } else out = errorReply(err, id);
    if (out.status >= 500) {
      // By code and type only: an unknown error's message may echo what it was given.
      req.log.error({ err: loggedError(err), status: out.status }, 'request failed');
    }
    void reply.code(out.status).type('application/json; charset=utf-8').send(out.body);
  });
  app.setNotFoundHandler((req, reply) => {
    const out = serviceError('NOT_FOUND', 'no such endpoint (see /openapi.json)', req.id);
    void reply.code(out.status).send(out.body);
  });

  healthRoutes(app, ctx, state);
  sessionRoutes(app, ctx);
  auditRoutes(app, ctx);
  adminRoutes(app, ctx);
  await app.ready();

  return {
    app,
    endpoints: ctx.endpoints,
    async listen(host, port) {
      return app.listen({ host, port });
    },
    async close() {
      state.draining = true;
      // Keep-alive connections that finish a request after close began are closed as they
      // go idle (not after the keep-alive timeout); past the drain deadline, all are.
      const closing = app.close();
      const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
      const deadline = setTimeout(() => app.server.closeAllConnections(), options.drainTimeoutMs ?? 30_000);
      try {
        await closing;
      } finally {
        clearInterval(sweep);
        clearTimeout(deadline);
        overdue.stop();
      }
    },
  };
}

/** A schema refusal as INVALID_EVENT (an event of an append) or INVALID_INPUT, naming where and what, never the value. */
function validationReply(err: FastifyError & { validation?: unknown; validationContext?: string }, url: string, id: string) {
  const issues = (err.validation ?? []) as { instancePath?: string; message?: string }[];
  const where = err.validationContext ?? 'request';
  const text = issues
    .slice(0, 3)
    .map((i) => `${where}${(i.instancePath ?? '').replace(/\//g, '.')}: ${i.message ?? 'invalid'}`)
    .join('; ')
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, 500);
  const event = where === 'body' && /\/events$/.test(url.split('?')[0]!) && issues.some((i) => (i.instancePath ?? '').startsWith('/events'));
  return { status: 400, body: { error: { code: event ? 'INVALID_EVENT' : 'INVALID_INPUT', message: text || `the ${where} is invalid`, correlationId: id } } };
}
