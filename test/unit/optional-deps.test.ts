/**
 * openai and @aws-sdk/client-s3 are optional peer dependencies: a vault that does not use
 * them never loads them, and one that does without them installed gets DEPENDENCY_MISSING
 * naming the package (exit 2 in the CLI), not a crash.
 */
const missing = (name: string) => () => {
  const e = new Error(`Cannot find module '${name}'`) as Error & { code: string };
  e.code = 'MODULE_NOT_FOUND';
  throw e;
};

beforeEach(() => jest.resetModules());

it('an s3:// store without @aws-sdk/client-s3 says what to install', async () => {
  jest.doMock('@aws-sdk/client-s3', missing('@aws-sdk/client-s3'));
  const { S3ObjectStore } = await import('../../src/objects/s3');
  const store = new S3ObjectStore('s3://bucket/prefix', {}, 'archive');
  await expect(store.get('x')).rejects.toMatchObject({ code: 'DEPENDENCY_MISSING', message: 'an s3:// archive needs the @aws-sdk/client-s3 package, which is not installed: npm install @aws-sdk/client-s3' });
  await expect(store.put('x', new Uint8Array(1), { retainUntil: new Date() })).rejects.toMatchObject({ code: 'DEPENDENCY_MISSING' });
});

it('session-vault chat without openai exits 2 and says what to install', async () => {
  jest.doMock('openai', missing('openai'));
  const { main } = await import('../../src/cli/main');
  const out: string[] = [];
  const err: string[] = [];
  const saved = process.env.OPENAI_API_KEY;
  process.env.OPENAI_API_KEY = 'k';
  try {
    const code = await main(['chat', 'bank', 's', '--actor', 'a'], { out: (t) => out.push(t), err: (t) => err.push(t) });
    expect(code).toBe(2);
    expect(err).toEqual(['error[DEPENDENCY_MISSING]: session-vault chat needs the openai package, which is not installed: npm install openai']);
  } finally {
    if (saved === undefined) delete process.env.OPENAI_API_KEY;
    else process.env.OPENAI_API_KEY = saved;
  }
});

it('opening a vault loads neither', async () => {
  jest.doMock('openai', missing('openai'));
  jest.doMock('@aws-sdk/client-s3', missing('@aws-sdk/client-s3'));
  const { openVault } = await import('../../src/vault');
  const vault = await openVault({ database: 'memory://', witness: false, logLevel: 'silent' });
  await vault.close();
});
