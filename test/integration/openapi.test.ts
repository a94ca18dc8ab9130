import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { openApiDocument } from '../../src/service';
import { ROLES } from '../../src/tokens';
import { backends, dropCreatedDatabases } from '../support/backends';
import { message, sample, startService, type TestService } from '../support/service';

/**
 * docs/openapi.json is what the server does: it is the document the server serves, it
 * lists exactly the endpoints the server routes, with the roles the server enforces, and
 * real responses validate against its schemas.
 */
afterAll(dropCreatedDatabases);

const committed = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'docs', 'openapi.json'), 'utf8'));
type Operation = { description: string; responses: Record<string, { content?: Record<string, { schema: object }> }> };

describe('the OpenAPI document', () => {
  it('is generated from the routes: docs/openapi.json is current (npm run openapi)', async () => {
    expect(await openApiDocument()).toEqual(committed);
    expect(committed.openapi).toBe('3.1.0');
  });
});

describe.each(backends())('the OpenAPI document against the server on $name', (backend) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService(backend, { tokenCacheMs: 0 });
    await svc.vault.createTenant('acme');
    await svc.vault.session('acme', 's1').append(message('documented'));
  });
  afterAll(() => svc?.close());

  it('is the document the server serves', async () => {
    expect(await (await fetch(`${svc.url}/openapi.json`)).json()).toEqual(committed);
  });

  it('names exactly the endpoints the server routes, each with the roles it enforces', () => {
    const documented = Object.entries(committed.paths as Record<string, Record<string, Operation>>).flatMap(([p, ops]) =>
      Object.entries(ops).map(([method, op]) => `${method.toUpperCase()} ${p} ${/Roles: ([a-z, ]+)\./.exec(op.description)?.[1]}`),
    );
    const routed = svc.service.endpoints.map((e) => `${e.method} ${e.url.replace(/:([a-z]+)/g, '{$1}')} ${e.allow.join(', ')}`);
    expect(documented.sort()).toEqual(routed.sort());
  });

  it('describes every real response: each endpoint, called by a role it allows, answers what its schema says', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv); // the formats the schemas name (date-time, uri…) are checked too, not passed over
    let checked = 0;
    for (const e of svc.service.endpoints) {
      const role = ROLES.find((r) => e.allow.includes(r))!;
      const token = (await svc.token('acme', role)).token;
      const req = await sample(e, svc, 'acme')();
      const res = await svc.call(token, e.method, req.path, req.body);
      const op = committed.paths[e.url.replace(/:([a-z]+)/g, '{$1}')][e.method.toLowerCase()] as Operation;
      const described = op.responses[String(res.status)];
      expect([e.method, e.url, res.status, described !== undefined]).toEqual([e.method, e.url, res.status, true]);
      const schema = described!.content?.['application/json']?.schema;
      if (!schema) continue;
      // NDJSON endpoints document one line's schema.
      const bodies = /ndjson/.test(res.headers.get('content-type') ?? '') ? res.text.trim().split('\n').map((l) => JSON.parse(l)) : [res.json];
      const validate = ajv.compile(schema);
      for (const b of bodies) {
        const ok = validate(b);
        expect([e.method, e.url, ok ? 'valid' : JSON.stringify(validate.errors).slice(0, 400)]).toEqual([e.method, e.url, 'valid']);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(svc.service.endpoints.length);
    // And an error as documented.
    const err = await svc.call(null, 'GET', '/v1/whoami');
    const schema = (committed.paths['/v1/whoami'].get as Operation).responses['401']!.content!['application/json']!.schema;
    expect(ajv.validate(schema, err.json)).toBe(true);
  });
});
