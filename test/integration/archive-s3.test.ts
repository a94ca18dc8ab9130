import http from 'node:http';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { startConditionalS3 } from '../support/s3-conditional';
import { S3RVER_CREDENTIALS } from '../support/s3rver';
import type { Vault } from '../../src/vault';
import { S3ObjectStore } from '../../src/objects';

/**
 * The archive in an S3 bucket: a real S3-protocol server (s3rver) on loopback and the real
 * AWS client. Plus Object Lock: a loopback stand-in that says the bucket has it enabled
 * and records the retention headers the client sends.
 */
afterAll(dropCreatedDatabases);

let server: { endpoint: string; close(): Promise<void> };
let endpoint: string;
const credentials = S3RVER_CREDENTIALS;
const op = { actor: 'ops', reason: 's3 test' };

beforeAll(async () => {
  server = await startConditionalS3(['archive']);
  endpoint = server.endpoint;
});
afterAll(() => server.close());

describe.each(backends())('an S3 archive with a $name database', (backend) => {
  let vault: Vault;
  let close: () => Promise<void>;
  const prefix = `vault-${backend.name}`;

  beforeAll(async () => {
    ({ vault, close } = await testVault(backend, { archive: `s3://archive/${prefix}`, s3: { endpoint, region: 'us-east-1', forcePathStyle: true, credentials } }));
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  it('archives to the bucket, reads and verifies from it, restores and appends', async () => {
    const s = vault.session('bank', 's');
    await s.appendMany([
      { type: 'message', role: 'user', content: 'hello' },
      { type: 'message', role: 'assistant', content: 'hi' },
    ]);
    const before = await s.state();
    expect(await vault.operator(op).archive('bank', 's')).toMatchObject({ outcome: 'archived', object: 'bank/s/2.svarc.gz' });
    expect(await s.state()).toEqual(before);
    expect(await vault.verify({ tenant: 'bank' })).toMatchObject({ ok: true, events: 2 });
    await s.append({ type: 'message', role: 'user', content: 'again' });
    expect((await vault.sessions('bank'))[0]).toMatchObject({ status: 'active', events: 3 });
    expect(await vault.verify()).toMatchObject({ ok: true });
  });

  it('verify reports an object deleted from the bucket', async () => {
    await vault.operator(op).archive('bank', 's');
    const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
    await client.send(new DeleteObjectCommand({ Bucket: 'archive', Key: `${prefix}/bank/s/3.svarc.gz` }));
    expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([{ tenant: 'bank', session: 's', seq: 3, kind: 'archive_missing' }]);
  });
});

describe.each(backends())('an S3 archive on a store that ignores conditional writes, with a $name database', (backend) => {
  let loose: Awaited<ReturnType<typeof startConditionalS3>>;
  let vault: Vault;
  let close: () => Promise<void>;

  beforeAll(async () => {
    loose = await startConditionalS3(['archive'], { conditions: 'ignored' });
    ({ vault, close } = await testVault(backend, { archive: `s3://archive/loose-${backend.name}`, s3: { endpoint: loose.endpoint, region: 'us-east-1', forcePathStyle: true, credentials } }));
    await vault.createTenant('bank');
  });
  afterAll(async () => {
    await close();
    await loose.close();
  });

  it('refuses to archive there, where the later of two archives at once would write over the object the earlier recorded; the session stays as it was', async () => {
    const s = vault.session('bank', 's');
    await s.appendMany([
      { type: 'message', role: 'user', content: 'hello' },
      { type: 'message', role: 'assistant', content: 'hi' },
    ]);
    const before = await s.state();
    await expect(vault.operator(op).archive('bank', 's')).rejects.toMatchObject({
      code: 'STORAGE_REFUSED',
      message: `archive s3://archive/loose-${backend.name} does not answer conditional writes (it wrote over an object where If-None-Match and If-Match did not hold): two processes writing at once could write one over the other; use a store that answers them (docs/operations.md)`,
    });
    expect((await vault.sessions('bank'))[0]).toMatchObject({ status: 'active', events: 2 });
    expect(await s.state()).toEqual(before);
    expect(await vault.verify()).toMatchObject({ ok: true });
    expect(await new S3ObjectStore(`s3://archive/loose-${backend.name}`, { endpoint: loose.endpoint, region: 'us-east-1', forcePathStyle: true, credentials }, 'archive').list('bank/s/')).toEqual([]);
  });
});

describe('Object Lock', () => {
  it('sets COMPLIANCE retention until the purge date when the bucket has Object Lock enabled', async () => {
    const objects = new Map<string, Buffer>();
    const puts: http.IncomingHttpHeaders[] = [];
    const fake = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url!, 'http://x');
        if (req.method === 'GET' && url.searchParams.has('object-lock')) {
          res.writeHead(200, { 'content-type': 'application/xml' });
          res.end('<?xml version="1.0"?><ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>');
        } else if (req.method === 'PUT') {
          objects.set(url.pathname, Buffer.concat(chunks));
          puts.push(req.headers);
          res.writeHead(200, { etag: '"x"' });
          res.end();
        } else if (req.method === 'GET' && objects.has(url.pathname)) {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          res.end(objects.get(url.pathname));
        } else {
          res.writeHead(404, { 'content-type': 'application/xml' });
          res.end('<Error><Code>NoSuchKey</Code></Error>');
        }
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    try {
      const port = (fake.address() as { port: number }).port;
      const store = new S3ObjectStore('s3://locked/p', { endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true, credentials }, 'archive');
      expect(await store.objectLock()).toBe(true);
      const until = new Date('2033-01-01T00:00:00Z');
      await store.put('bank/s/1.svarc.gz', new Uint8Array([1, 2, 3]), { retainUntil: until });
      expect(puts[0]).toMatchObject({ 'x-amz-object-lock-mode': 'COMPLIANCE', 'x-amz-object-lock-retain-until-date': '2033-01-01T00:00:00Z' });
      expect(await store.get('bank/s/1.svarc.gz')).toEqual(new Uint8Array([1, 2, 3]));
    } finally {
      fake.close();
    }
  });
});
