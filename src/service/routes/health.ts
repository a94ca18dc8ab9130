import type { FastifyInstance } from 'fastify';
import type { ServiceContext } from '../endpoint';

/**
 * What needs no token: liveness, readiness (the store answers, and the service is not
 * draining), Prometheus metrics (counts and latencies by route template: no ids, no
 * content) and the OpenAPI document.
 */
export function healthRoutes(app: FastifyInstance, ctx: ServiceContext, state: { draining: boolean }): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    if (state.draining) return reply.code(503).send({ status: 'draining' });
    try {
      await ctx.vault.tenants();
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'store unavailable' });
    }
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    void reply.type(ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
