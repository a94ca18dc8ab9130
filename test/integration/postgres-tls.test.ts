import { createServer, type Socket } from 'node:net';
import path from 'node:path';
import { backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { TLS_FIXTURES, tlsPostgres } from '../support/tls-postgres';
import { openVault } from '../../src/vault';
import { createLogger } from '../../src/observability';

/**
 * TLS to Postgres, as a bank runs it: `sslmode=verify-full` with the CA in
 * `sslrootcert`. Every connection the vault makes (the probe, the migration, the pool)
 * goes through TLS, and a server that cannot prove it is the one the URL names (a man in
 * the middle with his own certificate, or the right certificate for another host) is
 * refused, typed, before any statement. Through a TLS-only front on loopback with the
 * test certificates (test/fixtures/tls). On a server only: the embedded store has no
 * connection.
 */
afterAll(dropCreatedDatabases);

const servers = backends().filter((b) => b.name === 'postgres');
process.stderr.write('[postgres-tls.test.ts] PGlite not run here: the embedded store has no connection to encrypt\n');

describe.each(servers)('TLS to $name', (backend) => {
  const ca = path.join(TLS_FIXTURES, 'ca.pem');
  /** The database URL through the TLS front at host:port, verifying against the test CA. */
  const through = (database: string, host: string, port: number, root = ca) => {
    const u = new URL(database);
    u.host = `${host}:${port}`;
    u.searchParams.set('sslmode', 'verify-full');
    u.searchParams.set('sslrootcert', root);
    return u.toString();
  };
  const open = (home: string, database: string) => openVault({ home, database, logger: createLogger({ level: 'silent' }) });

  it('opens, migrates, appends and reads over verified TLS only', async () => {
    const database = await backend.database();
    const front = await tlsPostgres(database, 'server');
    const h = await tempHome();
    try {
      // A URL without TLS is hung up on: the front speaks nothing else.
      const withoutTls = new URL(database);
      withoutTls.host = `localhost:${front.port}`;
      await expect(open(h.home, withoutTls.toString())).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      expect(front.refusedPlain).toBeGreaterThan(0);
      const vault = await open(h.home, through(database, 'localhost', front.port));
      try {
        await vault.createTenant('bank');
        await vault.session('bank', 's').append({ type: 'tool_call', callId: 'c1', tool: 'transfer', input: { amountCents: 5000 } });
        const types: string[] = [];
        for await (const e of vault.session('bank', 's').events()) types.push(e.type);
        expect(types).toEqual(['tool_call']);
      } finally {
        await vault.close();
      }
      // The probe, the migration and the pool's connections each shook hands.
      expect(front.handshakes).toBeGreaterThanOrEqual(3);
    } finally {
      h.cleanup();
      await front.close();
    }
  });

  it.each([
    ['a man in the middle with his own certificate', 'rogue' as const, 'localhost', 'ca.pem', /\(DEPTH_ZERO_SELF_SIGNED_CERT: its certificate is self-signed\)/],
    ['the right certificate, for another host name', 'server' as const, '127.0.0.1', 'ca.pem', /\(ERR_TLS_CERT_ALTNAME_INVALID: its certificate is for another host name\)/],
    ['a certificate from a CA the URL does not name', 'server' as const, 'localhost', 'rogue.pem', /\(UNABLE_TO_VERIFY_LEAF_SIGNATURE: its certificate is not signed by a trusted CA\)/],
  ])('refuses %s, typed, before any statement', async (_label, cert, host, root, why) => {
    const database = await backend.database();
    const front = await tlsPostgres(database, cert);
    const h = await tempHome();
    try {
      const refused = open(h.home, through(database, host, front.port, path.join(TLS_FIXTURES, root)));
      await expect(refused).rejects.toMatchObject({ code: 'STORAGE_REFUSED', message: expect.stringMatching(/^database refused while connecting to Postgres at [^ ]+: the server could not prove it is the one the URL names /) });
      await expect(refused).rejects.toMatchObject({ message: expect.stringMatching(why) });
      expect(front.handshakes).toBe(0);
    } finally {
      h.cleanup();
      await front.close();
    }
  });

  it('refuses, typed, a server that does not speak TLS when the URL asks for it', async () => {
    // A server that answers the SSLRequest with 'N', as Postgres with ssl = off does.
    const held = new Set<Socket>();
    const plain = createServer((c) => held.add(c.once('data', () => c.write('N')).on('error', () => {})));
    await new Promise<void>((r) => plain.listen(0, 'localhost', r));
    const h = await tempHome();
    try {
      const url = through(await backend.database(), 'localhost', (plain.address() as { port: number }).port);
      await expect(open(h.home, url)).rejects.toMatchObject({
        code: 'STORAGE_REFUSED',
        message: expect.stringMatching(/^database refused while connecting to Postgres at [^ ]+: the server does not speak TLS, which the URL asks for \(sslmode\)$/),
      });
    } finally {
      h.cleanup();
      for (const c of held) c.destroy();
      await new Promise<void>((r) => plain.close(() => r()));
    }
  });
});
