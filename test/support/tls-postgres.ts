import { createServer, connect, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The test certificates (test/fixtures/tls/README.md). */
export const TLS_FIXTURES = path.resolve(__dirname, '../fixtures/tls');

/**
 * A Postgres server that speaks TLS only, on loopback, in front of a real one: it answers
 * a client's SSLRequest with 'S', does the TLS handshake with the certificate it was
 * given, and passes the decrypted protocol on; a client that does not ask for TLS is
 * hung up on (like `hostssl` lines alone in pg_hba.conf). With the rogue certificate it
 * is the man in the middle.
 */
export async function tlsPostgres(target: string, cert: 'server' | 'rogue'): Promise<{ port: number; handshakes: number; refusedPlain: number; close(): Promise<void> }> {
  const to = new URL(target);
  const key = readFileSync(path.join(TLS_FIXTURES, `${cert}-key.pem`));
  const certificate = readFileSync(path.join(TLS_FIXTURES, `${cert}.pem`));
  const sockets = new Set<Socket>();
  const stats = { handshakes: 0, refusedPlain: 0 };
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    client.once('data', (first: Buffer) => {
      // SSLRequest: length 8, code 80877103.
      if (first.length !== 8 || first.readInt32BE(0) !== 8 || first.readInt32BE(4) !== 80877103) {
        stats.refusedPlain++;
        client.destroy();
        return;
      }
      client.write('S');
      const tls = new TLSSocket(client, { isServer: true, key, cert: certificate });
      tls.on('error', () => client.destroy());
      tls.once('secure', () => {
        stats.handshakes++;
        const upstream = connect(Number(to.port || 5432), to.hostname);
        sockets.add(upstream);
        upstream.on('error', () => tls.destroy());
        tls.pipe(upstream).pipe(tls);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    get handshakes() {
      return stats.handshakes;
    },
    get refusedPlain() {
      return stats.refusedPlain;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
