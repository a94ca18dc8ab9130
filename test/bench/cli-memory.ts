import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createKeyringFile } from '../../src/keys';
import { createLogger } from '../../src/observability';
import { openVault } from '../../src/vault';

/** The CLI commands measured, as run on a session `t/s`. */
const COMMANDS: readonly string[][] = [
  ['sessions', 't'],
  ['verify', 't', 's'],
  ['events', 't', 's', '--actor', 'bench'],
  ['replay', 't', 's', '--window', '20', '--actor', 'bench'],
  ['replay', 't', 's', '--actor', 'bench'],
  ['export', 't', 's', '--actor', 'bench', '--out', 'BUNDLE'],
  ['export', 't', 's', '--decrypt', '--actor', 'bench', '--out', 'BUNDLE'],
  // Last, in this order: each leaves the session as the next needs it.
  ['archive', 't', 's', '--actor', 'bench'],
  ['restore', 't', 's', '--actor', 'bench'],
];

/**
 * Peak RSS of CLI commands on the embedded store (PGlite in the home folder) for one
 * session of `events` events, each command its own process, as an operator runs it.
 */
export async function embeddedCliPeaks(events: number, event: () => Record<string, unknown>): Promise<{ command: string; peakMb: number; seconds: number }[]> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'sv-bench-cli-'));
  try {
    await createKeyringFile(path.join(home, 'keyring.json'), new Date());
    const vault = await openVault({ home, logger: createLogger({ level: 'silent' }), create: true });
    await vault.createTenant('t');
    for (let i = 0; i < events; i += 1000) await vault.session('t', 's').appendMany(Array.from({ length: Math.min(1000, events - i) }, event));
    await vault.close();
    const bin = path.resolve('dist', 'cli', 'bin.js'); // the CLI as built and shipped (npm run bench builds it first)
    return COMMANDS.map((args) => {
      const bundle = path.join(home, `bundle-${Date.now()}.json`);
      const start = process.hrtime.bigint();
      const run = spawnSync(process.execPath, ['-r', path.join(__dirname, 'report-rss.js'), bin, '--home', home, ...args.map((a) => (a === 'BUNDLE' ? bundle : a))], { encoding: 'utf8', maxBuffer: 1 << 30 });
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const peak = /bench-peak-rss-kb (\d+)/.exec(run.stderr ?? '');
      if (run.status !== 0 || !peak) throw new Error(`session-vault ${args.join(' ')} exited ${run.status}: ${(run.stderr ?? '').slice(0, 300)}`);
      return { command: args.filter((a) => a !== 'BUNDLE').join(' ').replace(' --actor bench', '').replace(' --out', ''), peakMb: Math.round(Number(peak[1]) / 1024), seconds: Math.round(seconds * 10) / 10 };
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
