import { createLogger } from '../../src/observability';
import { openVault, type Vault, type VaultOptions } from '../../src/vault';
import { tempHome, type Backend } from './backends';

/**
 * A home folder and a database that vaults open one after another, each acting as the
 * role a test asks for (the embedded store serves one process at a time, so each is closed
 * after its use). For tests that perform an attack as one role and look at the result as
 * another. On the embedded store the database is the home folder's own.
 */
export interface StoreHome {
  home: string;
  /** The server database, or undefined for the embedded store in the home folder (which the CLI can open too). */
  database: string | undefined;
  /** Opens a vault with `extra` over the home's options, runs `use`, closes it. */
  withVault<T>(use: (v: Vault) => Promise<T>, extra?: Partial<VaultOptions>): Promise<T>;
  /** Opens a vault with `extra` over the home's options, for the caller to close. */
  open(extra?: Partial<VaultOptions>): Promise<Vault>;
  cleanup(): void;
}

export async function storeHome(backend: Backend, options: Partial<VaultOptions> = {}): Promise<StoreHome> {
  const h = await tempHome();
  const database = backend.name === 'pglite' ? undefined : await backend.database();
  const open = (extra: Partial<VaultOptions> = {}) => openVault({ home: h.home, database, logger: createLogger({ level: 'silent' }), ...options, ...extra });
  return {
    home: h.home,
    database,
    open,
    async withVault(use, extra = {}) {
      const v = await open(extra);
      try {
        return await use(v);
      } finally {
        await v.close();
      }
    },
    cleanup: h.cleanup,
  };
}

/**
 * A retention run in a vault of its own (the nightly job's process), as the role `extra`
 * asks for: each item as `[session, action, outcome]`. On the embedded store the caller's
 * own vault must be closed meanwhile.
 */
export function runRetention(store: StoreHome, run: { tenant: string; dryRun?: boolean }, extra: Partial<VaultOptions> = {}): Promise<string[][]> {
  return store.withVault(async (job) => {
    const items: string[][] = [];
    for await (const i of job.operator({ actor: 'retention-job', reason: 'nightly' }).retentionRun({ tenant: run.tenant, dryRun: run.dryRun === true })) items.push([i.session, i.action, i.outcome]);
    return items;
  }, extra);
}
