import { InputError } from '../errors';
import { openVault, type OperatorAccess, type Vault } from '../vault';
import { vaultOptions, type CliConfig } from './config';
import type { Output } from './output';

/** What a command gets: settings, output, stdin, and a vault opened for the command's duration. */
export interface CommandContext {
  config: CliConfig;
  io: Output;
  stdin: NodeJS.ReadableStream;
  withVault<T>(fn: (vault: Vault) => Promise<T>): Promise<T>;
  /** Like withVault, as the operator named by --actor, recorded in the access trail. */
  asOperator<T>(fn: (operator: OperatorAccess, vault: Vault) => Promise<T>): Promise<T>;
}

export function commandContext(config: CliConfig, io: Output, stdin: NodeJS.ReadableStream): CommandContext {
  const withVault = async <T>(fn: (vault: Vault) => Promise<T>): Promise<T> => {
    const vault = await openVault(vaultOptions(config));
    try {
      return await fn(vault);
    } finally {
      await vault.close();
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
