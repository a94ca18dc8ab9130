import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { InputError } from '../../errors';
import { endpoint, type ServiceContext } from '../endpoint';
import * as S from '../schemas';
import { streamNdjson } from './sessions';

/**
 * What an auditor needs: verification (no key), the auditor bundle, signed checkpoints
 * and the access trail. Exports are recorded in the access trail as `token:<id>`.
 */
export function auditRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const { vault, metrics } = ctx;

  endpoint(app, ctx, {
    method: 'POST',
    url: '/v1/tenants/:tenant/verify',
    allow: ['reader', 'auditor', 'admin'],
    summary: 'Verify chains and heads',
    description: 'Hash chains, signed heads and archives of the tenant (or one session), checked without any key. `ok` is false on any problem; the response is still 200.',
    tags: ['audit'],
    schema: { params: S.tenantPath, body: S.scopeBody.nullish(), response: { 200: S.verifyReport, 404: S.errorBody } },
    handler: async (req) => {
      const report = await vault.verify({ tenant: req.params.tenant, session: req.body?.session });
      metrics.verifyFailures.inc(report.problems.length);
      return report;
    },
  });

  endpoint(app, ctx, {
    method: 'GET',
    url: '/v1/tenants/:tenant/sessions/:session/export',
    allow: ['auditor', 'operator'],
    summary: 'Download the auditor bundle',
    description:
      'The bundle of docs/export-format.md, checkable offline with `session-vault verify-bundle`. Recorded in the access trail first (`export`). ' +
      '`decrypt=true` adds plaintext, and is for operator tokens only (`export-decrypted`).',
    tags: ['audit'],
    schema: { params: S.sessionPath, querystring: S.exportQuery, headers: S.reasonHeader, response: { 200: z.record(z.string(), z.unknown()).describe('the bundle'), 404: S.errorBody } },
    handler: async (req, reply, principal) => {
      const decrypt = req.query.decrypt === 'true';
      if (decrypt && principal.role !== 'operator') throw new InputError('FORBIDDEN', 'a decrypted export needs an operator token');
      const { tenant, session } = req.params;
      metrics.accessRecords.inc({ action: decrypt ? 'export-decrypted' : 'export' });
      const bundle = await vault.operator({ actor: principal.actor, reason: req.headers['x-vault-reason'] }).export(tenant, session, { decrypt });
      void reply.header('content-disposition', `attachment; filename="${tenant}-${session.replace(/:/g, '_')}.bundle.json"`);
      return bundle as unknown as Record<string, unknown>;
    },
  });

  endpoint(app, ctx, {
    method: 'POST',
    url: '/v1/tenants/:tenant/checkpoint',
    allow: ['auditor', 'admin'],
    summary: 'Sign the current chain heads now',
    description: 'Signs the head of every session of the tenant (or one) and records it with the witness.',
    tags: ['audit'],
    schema: { params: S.tenantPath, body: S.scopeBody.nullish(), response: { 200: S.checkpointResults, 404: S.errorBody } },
    handler: async (req) => vault.checkpoint({ tenant: req.params.tenant, session: req.body?.session }),
  });

  endpoint(app, ctx, {
    method: 'GET',
    url: '/v1/tenants/:tenant/access-log',
    allow: ['auditor'],
    summary: "Stream the tenant's access trail",
    description:
      'NDJSON, one access record a line, oldest first: the file `session-vault verify-trail --tenant <tenant>` checks offline. ' +
      "The whole trail from seq 1, the tenant's records and the vault's own (no tenant) in full and every other tenant's withheld (the digests its hash covers in place of its fields), " +
      'so that none can be left out or withheld unseen; with `afterSeq`, from the record after that seq on, checked from the head there (`verify-trail --from-head`). ' +
      'With `since`, from the last record dated at least 5 minutes before that time, whose signed head the rest chain onto (`verify-trail --since`); not with `afterSeq`.',
    tags: ['audit'],
    schema: { params: S.tenantPath, querystring: S.accessQuery, response: { 200: S.accessRecord.describe('one line of the NDJSON stream') } },
    handler: async (req, reply) => {
      const { tenant } = req.params;
      const { afterSeq } = req.query;
      if (req.query.since === undefined) return streamNdjson(reply, vault.trailFile({ tenant }, { afterSeq }), (line) => line, req.id);
      if (afterSeq !== undefined) throw new InputError('INVALID_INPUT', 'a listing starts after a seq (afterSeq) or since a time (since), not both');
      return streamNdjson(reply, vault.trailFile({ tenant }, { since: new Date(req.query.since) }), (line) => line, req.id);
    },
  });

  endpoint(app, ctx, {
    method: 'GET',
    url: '/v1/tenants/:tenant/sessions/:session/access-log',
    allow: ['auditor'],
    summary: "Stream the session's access trail",
    description:
      'NDJSON, one access record a line, oldest first: the file `session-vault verify-trail --tenant <tenant> --session <session>` checks offline, ' +
      "for an answer to who read one customer's conversation. The whole trail from seq 1, the session's records in full and every other record withheld " +
      "(the digests its hash covers in place of its fields), the tenant's own records of other sessions too, so that none of the session's can be left out or withheld unseen. " +
      "The session's records written since migration 0062 carry the session's trail key (`sessionKey`) and their tenant's digest, not the tenant's trail secret, so that the listing can be handed to the customer: it tells the session's withheld records and no other session's.",
    tags: ['audit'],
    schema: { params: S.sessionPath, querystring: S.sessionAccessQuery, response: { 200: S.accessRecord.describe('one line of the NDJSON stream') } },
    handler: async (req, reply) => streamNdjson(reply, vault.trailFile({ tenant: req.params.tenant, session: req.params.session }, { afterSeq: req.query.afterSeq }), (line) => line, req.id),
  });
}
