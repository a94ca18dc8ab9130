import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { runCli } from '../support/cli';
import { createLogger } from '../../src/observability';
import { withCorrelationId } from '../../src/observability';

afterAll(dropCreatedDatabases);

const CANARY = 'CANARY-7f3a9c-do-not-log';

describe.each(backends())('logging on $name', (backend) => {
  it('never logs content, and binds correlation id, tenant and session to every line of an operation', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'trace', destination: { write: (s: string) => void lines.push(s) } });
    const t = await testVault(backend, { logger });
    try {
      await t.vault.createTenant('bank');
      const s = t.vault.session('bank', 'canary');
      await withCorrelationId('corr-canary', () =>
        s.appendMany([
          { type: 'message', role: 'user', content: `my PIN is ${CANARY}` },
          { type: 'tool_call', callId: 'c', tool: 'pin', input: { pin: CANARY } },
          { type: 'tool_result', callId: 'c', output: CANARY },
          { type: 'state_patch', scope: 'world', patch: { pin: CANARY } },
        ]),
      );
      for await (const _ of s.events());
      await s.state();
      await t.vault.verify();
      await expect(s.append({ type: 'message', role: 'user', content: CANARY, bogus: CANARY })).rejects.toMatchObject({ code: 'INVALID_EVENT' });
      await s.append({ type: 'message', role: 'user', content: CANARY }).catch(() => {});

      const text = lines.join('');
      expect(text).not.toContain(CANARY);
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const appendLines = parsed.filter((l) => l.op === 'append');
      expect(appendLines.length).toBeGreaterThan(0);
      expect(appendLines[0]).toMatchObject({ correlationId: 'corr-canary', tenant: 'bank', session: 'canary' });
      const keyring = require('node:fs').readFileSync(t.keyring, 'utf8') as string;
      for (const secret of keyring.match(/"(key|secretKey)": "([^"]+)"/g) ?? []) {
        expect(text).not.toContain(secret.split('"')[3]);
      }
    } finally {
      await t.close();
    }
  });
});

describe('CLI logging', () => {
  it('keeps content out of the debug log and error output', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-log-'));
    const run = (args: string[], stdin = '') => runCli({ VAULT_HOME: home, VAULT_LOG_LEVEL: 'debug', VAULT_ACTOR: 'ops' }, args, stdin);
    try {
      expect((await run(['init'])).code).toBe(0);
      expect((await run(['tenant', 'create', 'bank'])).code).toBe(0);
      const ok = await run(['append', 'bank', 's', '--debug'], JSON.stringify({ type: 'message', role: 'user', content: CANARY }) + '\n');
      expect(ok.code).toBe(0);
      expect(ok.stderr).toMatch(/"op":"append"/);
      const bad = await run(['append', 'bank', 's', '--debug'], JSON.stringify({ type: 'message', role: CANARY, content: CANARY }) + '\n');
      expect(bad.code).toBe(2);
      const read = await run(['events', 'bank', 's', '--debug']);
      expect(read.code).toBe(0);
      for (const r of [ok, bad, read]) expect(r.stderr).not.toContain(CANARY);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
