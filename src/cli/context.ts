import { InputError } from '../errors';
import { ensureSodium } from '../crypto';
import { openKeys } from './keys-config';
import { openVault, type OperatorAccess, type Vault } from '../vault';
import { vaultOptions, type CliConfig } from './config';
import { tuneForShortRun } from './short-run';
import type { Output } from './output';

/** What a command gets: settings, output, stdin, and a vault opened for the command's duration. */
export interface CommandContext {
  config: CliConfig;
  io: Output;
  stdin: NodeJS.ReadableStream;
  /**
   * Runs fn with a vault opened for it. Only `init`, `tenant create` and `demo` pass
   * `create`: every other command finds the vault or fails with NO_VAULT, creating and
   * migrating nothing. Only `serve` passes `longRunning`: on the embedded store, every
   * other command tunes V8 for a short run (short-run.ts). Only `init` passes `asLogin`:
   * on a server it acts as its login, the tables' owner, not as a role of the vault's family.
   */
  withVault<T>(fn: (vault: Vault) => Promise<T>, options?: { create?: boolean; longRunning?: boolean; asLogin?: boolean }): Promise<T>;
  /** Like withVault, as the operator named by --actor, recorded in the access trail. */
  asOperator<T>(fn: (operator: OperatorAccess, vault: Vault) => Promise<T>): Promise<T>;
}

export function commandContext(config: CliConfig, io: Output, stdin: NodeJS.ReadableStream): CommandContext {
  const withVault = async <T>(fn: (vault: Vault) => Promise<T>, options: { create?: boolean; longRunning?: boolean; asLogin?: boolean } = {}): Promise<T> => {
    await ensureSodium();
    const embedded = config.database === undefined || config.database === 'memory://';
    if (embedded && !options.longRunning) tuneForShortRun();
    const create = options.create === true;
    // On a terminal, say why nothing happens yet; in scripts stderr keeps its one error line.
    const onLockWait = process.stderr.isTTY
      ? (dir: string, ms: number) => io.err(`waiting for another process using the embedded store ${dir} (up to ${Math.round(ms / 1000)} s; --lock-timeout)`)
      : undefined;
    const keys = await openKeys(config);
    try {
      const vault = await openVault({ ...vaultOptions(config), keyProvider: keys.keyProvider, signer: keys.signer, create, migrate: create, asLogin: options.asLogin === true, onLockWait });
      try {
        return await fn(vault);
      } finally {
        await vault.close();
      }
    } finally {
      await keys.close();
    }
  };
  return {
    config,
    io,
    stdin,
    withVault,
    async asOperator(fn) {
      // Refuse before opening anything: decrypting needs a name in the access trail.
      if (!config.actor) throw new InputError('ACTOR_REQUIRED', 'this command decrypts or exports: name yourself with --actor or VAULT_ACTOR');
      return withVault((vault) => fn(vault.operator({ actor: config.actor!, reason: config.reason }), vault));
    },
  };
}
