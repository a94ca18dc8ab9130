import { openVault, type Vault } from '../vault';
import { vaultOptions, type CliConfig } from './config';
import type { Output } from './output';

/** What a command gets: settings, output, stdin, and a vault opened for the command's duration. */
export interface CommandContext {
  config: CliConfig;
  io: Output;
  stdin: NodeJS.ReadableStream;
  withVault<T>(fn: (vault: Vault) => Promise<T>): Promise<T>;
}

export function commandContext(config: CliConfig, io: Output, stdin: NodeJS.ReadableStream): CommandContext {
  return {
    config,
    io,
    stdin,
    async withVault(fn) {
      const vault = await openVault(vaultOptions(config));
      try {
        return await fn(vault);
      } finally {
        await vault.close();
      }
    },
  };
}
