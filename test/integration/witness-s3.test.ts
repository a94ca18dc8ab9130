import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { startConditionalS3 } from '../support/s3-conditional';
import { S3RVER_CREDENTIALS } from '../support/s3rver';
import { asOwner } from '../support/owner';
import type { Vault } from '../../src/vault';

/** The witness in an S3 bucket: a real S3-protocol server on loopback, the real AWS client. */
afterAll(dropCreatedDatabases);

let server: { endpoint: string; close(): Promise<void> };
let endpoint: string;
const credentials = S3RVER_CREDENTIALS;

beforeAll(async () => {
  server = await startConditionalS3(['witness']);
  endpoint = server.endpoint;
});
afterAll(() => server.close());

describe.each(backends())('an S3 witness with a $name database', (backend) => {
  let vault: Vault;
  let url: string;
  let close: () => Promise<void>;
  const prefix = `vault-${backend.name}`;

  beforeAll(async () => {
    ({ vault, url, close } = await testVault(backend, {
      witness: `s3://witness/${prefix}`,
      s3: { endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
    }));
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  it('records signed heads in the bucket and verifies against them', async () => {
    await vault.session('bank', 's').appendMany([{ type: 'task', task: 'a' }, { type: 'task', task: 'b' }, { type: 'task', task: 'c' }]);
    expect((await vault.checkpoint())[0]).toMatchObject({ session: 's', seq: 3, witness: 'recorded' });
    const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
    const object = await client.send(new GetObjectCommand({ Bucket: 'witness', Key: `${prefix}/bank/s.checkpoint` }));
    expect(await object.Body!.transformToString()).toMatch(/^session-vault\/v1\/bank\/s\n3\n/);
    expect(await vault.verify()).toMatchObject({ ok: true, problems: [] });
  });

  it('shows a database that fell behind the bucket, and never moves the bucket back', async () => {
    const w = `tenant_id = 'bank' AND session_id = 's'`;
    await asOwner(vault, url, [
      { text: `DELETE FROM events WHERE ${w} AND seq > 1` },
      { text: `DELETE FROM checkpoints WHERE ${w} AND seq > 1` },
      { text: `UPDATE sessions SET head_seq = 1, head_hash = (SELECT hash FROM events WHERE ${w} AND seq = 1), last_at = (SELECT at FROM events WHERE ${w} AND seq = 1) WHERE ${w}` },
    ]);
    expect((await vault.verify()).problems).toEqual([{ tenant: 'bank', session: 's', seq: 3, kind: 'witness_beyond_head' }]);
    expect((await vault.checkpoint())[0]!.witness).toBe('witness_ahead');
  });

  it('never blocks appends, and fails checkpoint and verify clearly, when the bucket cannot be reached', async () => {
    const t = await testVault(backend, { witness: 's3://witness/x', s3: { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', forcePathStyle: true, credentials } });
    try {
      await t.vault.createTenant('bank');
      // Appending never waits on the witness…
      await expect(t.vault.session('bank', 's').append({ type: 'task', task: 'a' })).resolves.toMatchObject({ lastSeq: 1 });
      // …but checkpointing to it and verifying against it say it is unreachable.
      await expect(t.vault.checkpoint()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      await expect(t.vault.verify()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', message: expect.stringMatching(/^witness s3:\/\/witness\/x unavailable/) });
    } finally {
      await t.close();
    }
  });
});
