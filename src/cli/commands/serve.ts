import { isIP } from 'node:net';
import { InputError } from '../../errors';
import { createLogger } from '../../observability';
import { buildService, openApiDocument } from '../../service';
import type { CommandContext } from '../context';
import { intFlag, readInputFile } from '../input';
import { json } from '../output';
import { initCommand } from './init';

export interface ServeFlags {
  listen?: string;
  tlsCert?: string;
  tlsKey?: string;
  bodyLimit?: string;
  rateLimit?: string;
  requestTimeout?: string;
  tokenCache?: string;
  trustProxy?: string;
}

/**
 * `serve [--listen HOST:PORT]`: the HTTP service (docs/service.md). Initialises the vault
 * if needed (as `init`), listens, prints `listening <url>` (`{"listening"}` with --json)
 * on stdout, and on SIGTERM or SIGINT drains: requests in flight, appends included, are
 * answered before the store closes. Exit 0 after a drain.
 */
export async function serveCommand(ctx: CommandContext, flags: ServeFlags): Promise<number> {
  const { host, port } = listenAddress(flags.listen ?? '127.0.0.1:8080');
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new InputError('INVALID_INPUT', 'give --tls-cert and --tls-key together');
  const tls = flags.tlsCert !== undefined ? { cert: await readInputFile(flags.tlsCert), key: await readInputFile(flags.tlsKey!) } : undefined;
  const options = {
    bodyLimit: intFlag(flags.bodyLimit, '--body-limit'),
    rateLimit: intFlag(flags.rateLimit, '--rate-limit'),
    requestTimeoutMs: seconds(flags.requestTimeout, '--request-timeout'),
    tokenCacheMs: flags.tokenCache === undefined ? undefined : (intFlag(flags.tokenCache, '--token-cache', 0) ?? 0) * 1000,
    trustProxy: flags.trustProxy === undefined ? undefined : proxyAddresses(flags.trustProxy),
    tls,
    logger: createLogger({ level: ctx.config.logLevel }),
  };
  // Idempotent: on a fresh machine `serve` alone gives a working vault; its report goes to stderr.
  // Both open the store for a long run (the embedded store's WebAssembly fully optimized).
  const withVault: typeof ctx.withVault = (fn, o) => ctx.withVault(fn, { ...o, longRunning: true });
  await initCommand({ ...ctx, withVault, io: { out: (t) => ctx.io.err(t), err: (t) => ctx.io.err(t) }, config: { ...ctx.config, json: false } });
  await withVault(async (vault) => {
    const service = await buildService(vault, options);
    const url = await service.listen(host, port);
    if (ctx.config.json) json(ctx.io, { listening: url });
    else ctx.io.out(`listening ${url}`);
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    ctx.io.err(`${signal}: draining requests in flight, then closing`);
    await service.close();
  });
  return 0;
}

/** `--trust-proxy A[,B…]`: addresses or CIDR ranges (IPv4 or IPv6) of the proxies in front of the service. */
export function proxyAddresses(text: string): string[] {
  const list = text.split(',').map((a) => a.trim());
  for (const a of list) {
    const [ip, bits, ...rest] = a.split('/');
    const family = isIP(ip ?? '');
    const prefixOk = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
    if (family === 0 || !prefixOk || rest.length > 0) throw new InputError('INVALID_INPUT', `--trust-proxy: ${JSON.stringify(a)} is not an IP address or CIDR range`);
  }
  return list;
}

/** `openapi`: the service's OpenAPI 3.1 document on stdout (docs/openapi.json is this). */
export async function openapiCommand(ctx: CommandContext): Promise<number> {
  ctx.io.out(JSON.stringify(await openApiDocument(), null, 2));
  return 0;
}

function listenAddress(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new InputError('INVALID_INPUT', '--listen takes HOST:PORT, e.g. 127.0.0.1:8080 (port 0: any free port)');
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function seconds(value: string | undefined, flag: string): number | undefined {
  const n = intFlag(value, flag);
  return n === undefined ? undefined : n * 1000;
}
