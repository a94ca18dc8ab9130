import { Writable } from 'node:stream';
import type { Role } from '../../src/tokens';
import { buildService, type ServiceOptions, type VaultService } from '../../src/service';
import { createLogger } from '../../src/observability';
import type { Vault, VaultOptions } from '../../src/vault';
import { testVault, type Backend } from './backends';
import type { EndpointInfo } from '../../src/service';

/** A service on loopback over a fresh test vault, and what tests need around it. */
export interface TestService {
  vault: Vault;
  service: VaultService;
  url: string;
  databaseUrl: string;
  /** The vault's home (its witness folder is `witness/` in it). */
  home: string;
  /** Every log line the service and vault wrote. */
  logs: string[];
  /** A new token of a tenant with a role, made through the library as operator `test-setup`. */
  token(tenant: string, role: Role, extra?: { expiresAt?: Date; label?: string }): Promise<{ token: string; id: string }>;
  /** fetch against the service with a token. */
  call(token: string | null, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; text: string; headers: Headers }>;
  close(): Promise<void>;
}

export async function startService(backend: Backend, options: ServiceOptions = {}, vaultOptions: Partial<VaultOptions> = {}): Promise<TestService> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  const t = await testVault(backend, { logger, ...vaultOptions });
  const service = await buildService(t.vault, { logger, ...options });
  const url = await service.listen('127.0.0.1', 0);
  return {
    vault: t.vault,
    service,
    url,
    databaseUrl: t.url,
    home: t.home,
    logs,
    async token(tenant, role, extra = {}) {
      const made = await t.vault.operator({ actor: 'test-setup', reason: 'test' }).createToken(tenant, { role, ...extra });
      return { token: made.token, id: made.info.id };
    },
    async call(token, method, path, body, headers = {}) {
      const res = await fetch(url + path, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
      return { status: res.status, json, text, headers: res.headers };
    },
    async close() {
      await service.close();
      await t.close();
    },
  };
}

export const message = (content: string) => ({ type: 'message', role: 'user', content });

/** A request each endpoint accepts from a role it allows (a 2xx), keyed "METHOD url". */
export function sample(e: EndpointInfo, svc: TestService, tenant: string): () => Promise<{ path: string; body?: unknown }> {
  const path = e.url.replace(':tenant', tenant).replace(':session', 's1');
  const samples: Record<string, () => Promise<{ path: string; body?: unknown }>> = {
    'POST /v1/tenants/:tenant/sessions/:session/events': async () => ({ path, body: { events: [message('matrix')] } }),
    'POST /v1/tenants/:tenant/verify': async () => ({ path, body: {} }),
    'POST /v1/tenants/:tenant/checkpoint': async () => ({ path, body: {} }),
    'PUT /v1/tenants/:tenant/sessions/:session/hold': async () => ({ path, body: { reason: 'matrix' } }),
    'POST /v1/tenants/:tenant/sessions/:session/hold/clear': async () => ({ path, body: { reason: 'matrix' } }),
    'PUT /v1/tenants/:tenant/retention': async () => ({ path, body: { archiveAfter: '30d', retain: '7y' } }),
    'POST /v1/tenants/:tenant/tokens': async () => ({ path, body: { role: 'reader', label: 'matrix' } }),
    'DELETE /v1/tenants/:tenant/tokens/:id': async () => ({ path: path.replace(':id', (await svc.token(tenant, 'reader')).id) }),
  };
  return samples[`${e.method} ${e.url}`] ?? (async () => ({ path }));
}

