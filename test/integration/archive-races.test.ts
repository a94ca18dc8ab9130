import fs, { readdirSync } from 'node:fs';
import path from 'node:path';
import { updateKeyringFile, withNewSigningKey } from '../../src/keys';
import type { Vault } from '../../src/vault';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { startConditionalS3, type ConditionalS3 } from '../support/s3-conditional';
import { S3RVER_CREDENTIALS } from '../support/s3rver';

/**
 * Two archives of one session at once (a retention run and an operator's `archive`, or
 * two hosts' retention runs), with the signing key rotated and a `checkpoint` run between
 * their reads, so that their objects differ: the one whose write landed last must not replace the object the other
 * recorded, or every read of the session after fails ARCHIVE_CORRUPT. The first write is
 * held (slow) until the second archive is done, on an S3 bucket (a real S3-protocol
 * server answering conditional writes as AWS S3 does) and on a folder.
 */
afterAll(dropCreatedDatabases);

let s3: ConditionalS3;
beforeAll(async () => {
  s3 = await startConditionalS3(['archive']);
});
afterAll(() => s3.close());

/** Holds the first rename or link onto a path ending so until released: a folder write that is slow to land. */
function holdFolderWrite(suffix: string): { arrived: Promise<void>; release(): void } {
  let arrive!: () => void;
  let release!: () => void;
  const arrived = new Promise<void>((r) => (arrive = r));
  const released = new Promise<void>((r) => (release = r));
  let held = false;
  for (const name of ['rename', 'link'] as const) {
    const real = fs[name];
    jest.spyOn(fs, name).mockImplementation(((from: string, to: string, done: (e: NodeJS.ErrnoException | null) => void) => {
      if (held || !String(to).endsWith(suffix)) return real(from, to, done);
      held = true;
      arrive();
      void released.then(() => real(from, to, done));
    }) as never);
  }
  return { arrived, release };
}

describe.each(backends())('two archives of one session at once, with a $name database', (backend) => {
  afterEach(() => jest.restoreAllMocks());

  describe.each([
    ['an S3 bucket', 's3'],
    ['a folder', 'folder'],
  ] as const)('in %s', (_label, kind) => {
    let vault: Vault;
    let keyring: string;
    let home: string;
    let close: () => Promise<void>;
    const prefix = `arch-${backend.name}`;

    beforeAll(async () => {
      ({ vault, keyring, home, close } = await testVault(backend, kind === 's3' ? { archive: `s3://archive/${prefix}`, s3: { endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS } } : {}));
      await vault.createTenant('bank');
      await vault.session('bank', 'claim-9').appendMany([
        { type: 'message', role: 'user', content: 'my basement flooded' },
        { type: 'task', task: 'assess water damage' },
      ]);
    });
    afterAll(() => close());

    it('keep the object the first to land wrote, never written over: the session reads, restores and verifies after', async () => {
      const object = 'bank/claim-9/2.svarc.gz';
      const held = kind === 's3' ? s3.hold(`${prefix}/${object}`) : holdFolderWrite(object);
      const first = vault.operator({ actor: 'retention-host-a', reason: 'due' }).archive('bank', 'claim-9');
      first.catch(() => {}); // awaited below
      await held.arrived;
      // The signing key is rotated, and a checkpoint run signs the head with the new key: the
      // second archive's object holds one more note than the first's.
      await updateKeyringFile(keyring, (doc) => withNewSigningKey(doc, new Date()).doc);
      expect(await vault.checkpoint({ tenant: 'bank' })).toMatchObject([{ session: 'claim-9', seq: 2, witness: 'recorded' }]);
      await expect(vault.operator({ actor: 'retention-host-b', reason: 'due' }).archive('bank', 'claim-9')).resolves.toMatchObject({ outcome: 'archived' });
      held.release();
      await first.then(
        () => undefined,
        () => undefined, // it may fail (the session is archived by the other): what matters is the object
      );
      jest.restoreAllMocks();

      let read = 0;
      for await (const _ of vault.session('bank', 'claim-9').events()) read++;
      expect(read).toBe(2);
      expect((await vault.verify({ tenant: 'bank' })).problems).toEqual([]);
      await expect(vault.operator({ actor: 'ops', reason: 'customer asked' }).restore('bank', 'claim-9')).resolves.toBe(true);
      expect((await vault.verify({ tenant: 'bank' })).ok).toBe(true);
      if (kind === 'folder') expect(readdirSync(path.join(home, 'archive', 'bank', 'claim-9'))).toEqual(['2.svarc.gz']); // no temporary file left
    });
  });
});
