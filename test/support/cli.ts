import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

/** The built CLI, run as a user would: `node dist/cli/bin.js`. */
export const BIN = path.join(__dirname, '..', '..', 'dist', 'cli', 'bin.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with only PATH, HOME and `env` in its environment, feeding `stdin`. */
export function runCli(env: Record<string, string>, args: string[], stdin = ''): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}
