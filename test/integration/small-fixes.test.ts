import { Writable } from 'node:stream';
import OpenAI from 'openai';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { startFakeOpenAI } from '../support/fake-openai';
import { RecordedChat } from '../../src/integrations/openai';
import { createLogger } from '../../src/observability';
import type { Vault } from '../../src/vault';

/** What a new user tripped over: each answer now says what happened, instead of something close to it. */
afterAll(dropCreatedDatabases);

describe.each(backends())('small fixes on $name', (backend) => {
  let vault: Vault;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ vault, close } = await testVault(backend));
    await vault.createTenant('bank');
    await vault.session('bank', 's').appendMany([{ type: 'task', task: 'a' }, { type: 'task', task: 'b' }]);
  });
  afterAll(() => close());

  it('refuses a replay point past the head instead of answering with the latest state', async () => {
    await expect(vault.session('bank', 's').state({ atSeq: 3 })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/--at-seq 3 is past the head of bank\/s \(seq 2\)/) });
    await expect(vault.operator({ actor: 'a' }).state('bank', 's', { atSeq: 99 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect((await vault.session('bank', 's').state({ atSeq: 2 })).currentTask).toBe('b');
  });

  it('a deduplicated append returns the original correlation id', async () => {
    const first = await vault.session('bank', 'idem').append({ type: 'task', task: 't', idempotencyKey: 'k1' }, { correlationId: 'original-request' });
    const retry = await vault.session('bank', 'idem').append({ type: 'task', task: 't', idempotencyKey: 'k1' }, { correlationId: 'the-retry' });
    expect(retry).toMatchObject({ deduplicated: true, correlationId: 'original-request', lastSeq: first.lastSeq });
  });
});

it('a chat turn logs its correlation id, tenant and session once per line', async () => {
  const fake = await startFakeOpenAI();
  const t = await testVault(backends()[0]!);
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(...String(chunk).split('\n').filter(Boolean)), done()) });
  try {
    await t.vault.createTenant('bank');
    fake.reply({ kind: 'text', text: 'Hello.' });
    const chat = new RecordedChat({
      client: new OpenAI({ apiKey: 'k', baseURL: fake.baseURL, maxRetries: 0 }),
      session: t.vault.session('bank', 'chat'),
      model: 'gpt-4o-mini',
      logger: createLogger({ level: 'info', destination: sink }),
    });
    const r = await chat.send('Hi');
    const turnLines = lines.filter((l) => l.includes('"op":"chat.'));
    expect(turnLines.length).toBeGreaterThanOrEqual(2);
    for (const l of turnLines) {
      for (const key of ['correlationId', 'tenant', 'session']) expect(l.split(`"${key}":`).length - 1).toBe(1);
      expect(JSON.parse(l)).toMatchObject({ correlationId: r.correlationId, tenant: 'bank', session: 'chat' });
    }
  } finally {
    await t.close();
    await fake.close();
  }
});
