import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { BIN, runCli } from './cli';

/** A `session-vault serve` process and the URL it listens on. */
export interface ServeProcess {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `serve --listen 127.0.0.1:0 --json` with only `env` (and PATH, HOME); resolves once it listens. */
export function startServe(env: Record<string, string>, args: string[] = []): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--json', ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, url: JSON.parse(line).listening, stderr: () => stderr, exited });
    });
    void exited.then(({ code }) => reject(new Error(`serve exited (${code}) before listening: ${stderr.slice(-2000)}`)));
  });
}

/** A vault home with a tenant and tokens of the given roles, made through the CLI. */
export async function prepareHome(env: Record<string, string>, tenant: string, roles: string[]): Promise<Record<string, string>> {
  for (const args of [['init'], ['tenant', 'create', tenant]]) {
    const r = await runCli(env, args);
    if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  }
  const tokens: Record<string, string> = {};
  for (const role of roles) {
    const r = await runCli({ ...env, VAULT_ACTOR: 'setup' }, ['tokens', 'create', tenant, '--role', role, '--reason', 'test', '--json']);
    if (r.code !== 0) throw new Error(`tokens create: ${r.stderr}`);
    tokens[role] = JSON.parse(r.stdout).token;
  }
  return tokens;
}

/** Why the Python client cannot run here, or null when `python3` is there. */
export function pythonMissing(): string | null {
  const r = spawnSync('python3', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'python3 is not installed';
}
