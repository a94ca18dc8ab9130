import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { buildService } from '../../src/service';
import { createLogger } from '../../src/observability';
import type { Vault } from '../../src/vault';

/** Appends through the HTTP service, on loopback, measured by autocannon. */
export interface HttpAppendFigures {
  connections: number;
  requests: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
}

/**
 * `connections` clients appending one ~1 KB event per request, round robin over as many sessions,
 * through `session-vault serve`'s routes (in this process, on 127.0.0.1), for `amount`
 * requests in all. Bounded, loopback only.
 */
export async function httpAppends(vault: Vault, tenant: string, connections: number, amount: number, contentBytes: number): Promise<HttpAppendFigures> {
  const service = await buildService(vault, { logger: createLogger({ level: 'silent' }), rateLimit: 1_000_000_000 });
  const url = await service.listen('127.0.0.1', 0);
  const token = (await vault.operator({ actor: 'bench', reason: 'http bench' }).createToken(tenant, { role: 'writer', label: 'bench' })).token;
  const body = JSON.stringify({ events: [{ type: 'message', role: 'user', content: randomBytes(contentBytes / 2).toString('hex') }] });
  let next = 0;
  try {
    const result = await autocannon({
      url,
      connections,
      amount,
      // autocannon notices the last reply at its next sample: with its default of one a
      // second, 2,000 requests answered in 2.4 s read as 3.01 s (the rate came out 2,000 / 2.01
      // or 2,000 / 3.01, whatever it was).
      sampleInt: 10,
      pipelining: 1,
      requests: [
        {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          // Round robin over `connections` sessions (autocannon's context does not last across a connection's requests).
          setupRequest: (req) => ({ ...req, path: `/v1/tenants/${tenant}/sessions/http-${next++ % connections}/events`, body }),
        },
      ],
    });
    return {
      connections,
      requests: result.requests.total,
      perSec: Math.round(result.requests.total / result.duration),
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      non2xx: result.non2xx + result.errors,
    };
  } finally {
    await service.close();
  }
}
