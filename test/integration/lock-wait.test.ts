import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openVault } from '../../src/vault';

/** A second opener of the embedded store is told it is waiting (once, before the wait), then fails clearly. */
it('tells the caller it is waiting for another process, then gives up with STORE_LOCKED', async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'sv-lockwait-'));
  const dist = path.join(__dirname, '..', '..', 'dist');
  const holder = spawn(process.execPath, ['-e', `require(${JSON.stringify(dist)}).openVault({ home: ${JSON.stringify(home)}, logLevel: 'silent' }).then(() => { process.stdout.write('open\\n'); setTimeout(() => process.exit(0), 60000); })`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => holder.stdout!.on('data', () => resolve()));
  const told: [string, number][] = [];
  try {
    await expect(openVault({ home, lockTimeoutMs: 1000, logLevel: 'silent', onLockWait: (dir, ms) => told.push([dir, ms]) })).rejects.toMatchObject({ code: 'STORE_LOCKED' });
    expect(told).toEqual([[path.join(home, 'db'), 1000]]);
  } finally {
    holder.kill('SIGTERM');
    await new Promise((r) => holder.on('exit', r));
    rmSync(home, { recursive: true, force: true });
  }
}, 60_000);
