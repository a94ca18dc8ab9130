import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildService } from '../../src/service';
import { createLogger } from '../../src/observability';
import type { Vault } from '../../src/vault';

/** Appends through the HTTP service, on loopback, measured by autocannon. */
export interface HttpAppendFigures {
  connections: number;
  /** Requests in the round kept (the median of three by rate). */
  requests: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Rates of the three timed rounds, in order. */
  rounds: number[];
  non2xx: number;
}

/**
 * `connections` clients appending one ~1 KB event per request, round robin over as many
 * sessions, through `session-vault serve`'s routes (in this process, on 127.0.0.1): one
 * untimed round to warm the service up (Fastify's paths are cold in this process until
 * then), then three rounds of `amount` requests, the median kept. The load generator
 * (autocannon) runs in a child process: in this one it shared the service's event loop, and
 * the row measured about half of what the service did alone (stop 43). Bounded, loopback only.
 */
export async function httpAppends(vault: Vault, tenant: string, connections: number, amount: number, contentBytes: number): Promise<HttpAppendFigures> {
  const service = await buildService(vault, { logger: createLogger({ level: 'silent' }), rateLimit: 1_000_000_000 });
  const url = await service.listen('127.0.0.1', 0);
  const token = (await vault.operator({ actor: 'bench', reason: 'http bench' }).createToken(tenant, { role: 'writer', label: 'bench' })).token;
  const body = JSON.stringify({ events: [{ type: 'message', role: 'user', content: randomBytes(contentBytes / 2).toString('hex') }] });
  const round = async (prefix: string) => {
    const spec = { url, token, tenant, prefix, connections, amount, body };
    const { stdout } = await run(process.execPath, [path.join(__dirname, 'http-load.js'), JSON.stringify(spec)], { maxBuffer: 1 << 20 });
    const r = JSON.parse(stdout) as { requests: number; seconds: number; p50Ms: number; p99Ms: number; non2xx: number };
    return { ...r, perSec: Math.round(r.requests / r.seconds) };
  };
  try {
    const warm = await round('http-warm');
    const timed = [await round('http-1'), await round('http-2'), await round('http-3')];
    const median = [...timed].sort((a, b) => a.perSec - b.perSec)[1]!;
    return {
      connections,
      requests: median.requests,
      perSec: median.perSec,
      p50Ms: median.p50Ms,
      p99Ms: median.p99Ms,
      rounds: timed.map((t) => t.perSec),
      non2xx: warm.non2xx + timed.reduce((n, t) => n + t.non2xx, 0),
    };
  } finally {
    await service.close();
  }
}

const run = promisify(execFile);
