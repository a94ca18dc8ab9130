import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { endpoint, type ServiceContext } from '../endpoint';
import * as S from '../schemas';
import { isoTime } from '../../domain';

/**
 * A tenant's administration: legal holds, retention, keys and API tokens. Every change
 * is operator access, recorded in the access trail as `token:<id>` before it happens,
 * with the reason given in X-Vault-Reason (a hold's reason is in its body).
 */
export function adminRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const { vault, metrics, tokens } = ctx;
  const as = (actor: string, reason: string | undefined, action: string) => {
    metrics.accessRecords.inc({ action });
    return vault.operator({ actor, reason });
  };
  const heldStatus = async (tenant: string, session: string) => (await vault.sessionInfo(tenant, session)).status;

  endpoint(app, ctx, {
    method: 'GET',
    url: '/v1/tenants/:tenant/holds',
    allow: ['reader', 'operator', 'auditor', 'admin'],
    summary: 'List legal holds in force',
    tags: ['holds'],
    schema: { params: S.tenantPath, response: { 200: z.array(S.hold) } },
    handler: async (req) => (await vault.holds(req.params.tenant)).map((h) => ({ ...h, setAt: isoTime(h.setAt) })),
  });

  endpoint(app, ctx, {
    method: 'PUT',
    url: '/v1/tenants/:tenant/sessions/:session/hold',
    allow: ['admin'],
    summary: 'Place a legal hold',
    description:
      'A held session is never shredded or purged, and its events stay in the database: one archived before its hold is brought back from the archive (`status` `active`; `archived` when the archive store could not give it, and the next retention run tries again). `changed` is false when a hold was already in force.',
    tags: ['holds'],
    schema: { params: S.sessionPath, body: S.reasonBody, response: { 200: S.holdChange, 404: S.errorBody } },
    handler: async (req, _reply, p) => {
      const { tenant, session } = req.params;
      const changed = await as(p.actor, req.body.reason, 'hold.set').setHold(tenant, session);
      return { tenant, session, held: true, changed, status: await heldStatus(tenant, session) };
    },
  });

  endpoint(app, ctx, {
    method: 'POST',
    url: '/v1/tenants/:tenant/sessions/:session/hold/clear',
    allow: ['admin'],
    summary: 'Lift a legal hold',
    tags: ['holds'],
    schema: { params: S.sessionPath, body: S.reasonBody, response: { 200: S.holdChange, 404: S.errorBody } },
    handler: async (req, _reply, p) => {
      const { tenant, session } = req.params;
      const changed = await as(p.actor, req.body.reason, 'hold.clear').clearHold(tenant, session);
      return { tenant, session, held: false, changed, status: await heldStatus(tenant, session) };
    },
  });

  endpoint(app, ctx, {
    method: 'GET',
    url: '/v1/tenants/:tenant/retention',
    allow: ['reader', 'operator', 'auditor', 'admin'],
    summary: "Show the tenant's retention policy",
    tags: ['retention'],
    schema: { params: S.tenantPath, response: { 200: S.retentionView, 404: S.errorBody } },
    handler: async (req) => vault.retention(req.params.tenant),
  });

  endpoint(app, ctx, {
    method: 'PUT',
    url: '/v1/tenants/:tenant/retention',
    allow: ['admin'],
    summary: "Set the tenant's retention policy",
    description: 'As `retention set`: a shorter `retain` applies to new sessions only, unless `overrideFloors` (governance mode, with a reason). `compliance` mode is for good.',
    tags: ['retention'],
    schema: { params: S.tenantPath, headers: S.reasonHeader, body: S.retentionBody, response: { 200: S.retentionView, 404: S.errorBody, 409: S.errorBody } },
    handler: async (req, _reply, p) => {
      await as(p.actor, req.headers['x-vault-reason'], 'retention.set').setRetention(req.params.tenant, req.body);
      return vault.retention(req.params.tenant);
    },
  });

  endpoint(app, ctx, {
    method: 'GET',
    url: '/v1/tenants/:tenant/keys',
    allow: ['admin'],
    summary: "List the tenant's key versions",
    description: 'States, creation times and how many session keys each version wraps: never key material.',
    tags: ['keys'],
    schema: { params: S.tenantPath, response: { 200: z.array(S.keyInfo), 404: S.errorBody } },
    handler: async (req) => vault.keys(req.params.tenant),
  });

  endpoint(app, ctx, {
    method: 'POST',
    url: '/v1/tenants/:tenant/keys/rotate',
    allow: ['admin'],
    summary: 'Rotate the tenant key',
    description: 'A new tenant key version becomes primary; new sessions use it. Existing session keys move with `keys rewrap`.',
    tags: ['keys'],
    schema: { params: S.tenantPath, headers: S.reasonHeader, response: { 200: S.rotation, 404: S.errorBody } },
    handler: async (req, _reply, p) => as(p.actor, req.headers['x-vault-reason'], 'keys.rotate').rotateKey(req.params.tenant),
  });

  endpoint(app, ctx, {
    method: 'GET',
    url: '/v1/tenants/:tenant/tokens',
    allow: ['admin'],
    summary: "List the tenant's API tokens",
    description: 'Ids, roles, labels and dates, revoked tokens included: never secrets or their hashes.',
    tags: ['tokens'],
    schema: { params: S.tenantPath, response: { 200: z.array(S.tokenInfo) } },
    handler: async (req) => vault.tokens(req.params.tenant),
  });

  endpoint(app, ctx, {
    method: 'POST',
    url: '/v1/tenants/:tenant/tokens',
    allow: ['admin'],
    summary: 'Create an API token',
    description: 'The token is in the response this once; the vault keeps only its hash and a signed grant. Recorded as `tokens.create:<id>:<role>`.',
    tags: ['tokens'],
    schema: { params: S.tenantPath, headers: S.reasonHeader, body: S.tokenBody, response: { 201: S.createdToken } },
    handler: async (req, reply, p) => {
      const { body } = req;
      const made = await as(p.actor, req.headers['x-vault-reason'], 'tokens.create').createToken(req.params.tenant, {
        role: body.role,
        label: body.label,
        expiresAt: body.expiresAt === undefined ? undefined : new Date(body.expiresAt),
      });
      void reply.code(201);
      return { ...made.info, token: made.token };
    },
  });

  endpoint(app, ctx, {
    method: 'DELETE',
    url: '/v1/tenants/:tenant/tokens/:id',
    allow: ['admin'],
    summary: 'Revoke an API token',
    description: 'For good: a revoked token is refused at once by this service (and within the token cache time by others). Recorded as `tokens.revoke:<id>`.',
    tags: ['tokens'],
    schema: { params: S.tokenPath, headers: S.reasonHeader, response: { 200: z.object({ id: z.string(), revoked: z.boolean(), changed: z.boolean() }), 404: S.errorBody } },
    handler: async (req, _reply, p) => {
      const changed = await as(p.actor, req.headers['x-vault-reason'], 'tokens.revoke').revokeToken(req.params.tenant, req.params.id);
      tokens.forget(req.params.tenant, req.params.id);
      return { id: req.params.id, revoked: true, changed };
    },
  });

  endpoint(app, ctx, {
    method: 'GET',
    url: '/v1/whoami',
    allow: ['writer', 'reader', 'operator', 'auditor', 'admin'],
    summary: 'Describe the calling token',
    tags: ['tokens'],
    schema: { response: { 200: S.whoami } },
    handler: async (_req, _reply, p) => ({ tenant: p.tenant, tokenId: p.tokenId, role: p.role, label: p.label }),
  });
}
