import path from 'node:path';
import { z } from 'zod';
import { InputError } from '../errors';
import { ensureSodium } from '../crypto';
import { LocalKeyProvider, readKeyringFile, type KeyProvider } from '../keys';
import { createLogger, type Logger } from '../observability';
import { openStore } from '../store';
import { KeyAccess } from './key-access';
import { KeyedMutex } from './mutex';
import { SessionCache } from './session-cache';
import { Vault } from './vault';

/** Options of openVault; every one has a default (shared/spec/cli.md, "Where the vault lives"). */
export interface VaultOptions {
  /** Home folder. Default `./.session-vault`. */
  home?: string;
  /** `postgres://…`, `memory://`, or undefined for the embedded store in `$home/db`. */
  database?: string;
  /** Keyring file. Default `$home/keyring.json`. Read on first use of a key, so `verify` needs none. */
  keyring?: string;
  /** Wraps tenant keys instead of the keyring file's master keys (KMS, HSM). */
  keyProvider?: KeyProvider;
  /** How long to wait for another process holding the embedded store. Default 30 000 ms. */
  lockTimeoutMs?: number;
  /** Apply pending migrations on open. Default true; false when the login role cannot run DDL. */
  migrate?: boolean;
  /** A pino logger; default JSON on stderr at `logLevel`. */
  logger?: Logger;
  /** Default: `VAULT_LOG_LEVEL`, else 'info'. */
  logLevel?: string;
  /** Events per read page. Default 500. */
  pageSize?: number;
  /** The clock for event times (tests). Default `() => new Date()`. */
  clock?: () => Date;
}

const optionsSchema = z.strictObject({
  home: z.string().min(1).optional(),
  database: z.string().optional(),
  keyring: z.string().min(1).optional(),
  keyProvider: z.custom<KeyProvider>((v) => typeof v === 'object' && v !== null).optional(),
  lockTimeoutMs: z.number().int().nonnegative().max(3_600_000).optional(),
  migrate: z.boolean().optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null).optional(),
  logLevel: z.string().optional(),
  pageSize: z.number().int().min(1).max(10_000).optional(),
  clock: z.custom<() => Date>((v) => typeof v === 'function').optional(),
});

/** Default home folder. */
export const DEFAULT_HOME = '.session-vault';

/**
 * Opens a vault. Validates options (INVALID_CONFIG), opens and migrates the store
 * (STORAGE_UNAVAILABLE, STORE_LOCKED). The keyring is read when a key is first needed
 * (KEYRING_MISSING, KEYRING_INSECURE, KEYRING_INVALID); a missing keyring is never
 * silently created here — `session-vault init` does that.
 */
export async function openVault(options: VaultOptions = {}): Promise<Vault> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError('INVALID_CONFIG', `openVault: ${issue.path.join('.') || 'options'}: ${issue.message}`);
  }
  const o = parsed.data as VaultOptions;
  await ensureSodium();
  const home = path.resolve(o.home ?? DEFAULT_HOME);
  const keyringPath = path.resolve(o.keyring ?? path.join(home, 'keyring.json'));
  const logger = o.logger ?? createLogger({ level: o.logLevel ?? process.env.VAULT_LOG_LEVEL ?? 'info' });
  const store = await openStore({ url: o.database, home, lockTimeoutMs: o.lockTimeoutMs ?? 30_000, migrate: o.migrate ?? true });

  let provider: Promise<KeyProvider> | undefined;
  const getProvider = () => {
    provider ??= o.keyProvider ? Promise.resolve(o.keyProvider) : readKeyringFile(keyringPath).then((k) => new LocalKeyProvider(k));
    // A failed read is not cached: fixing the keyring's mode and retrying works.
    provider.catch(() => (provider = undefined));
    return provider;
  };
  const deps = {
    store,
    keys: new KeyAccess(getProvider),
    cache: new SessionCache(),
    mutex: new KeyedMutex(),
    logger,
    clock: o.clock ?? (() => new Date()),
    pageSize: o.pageSize ?? 500,
  };
  logger.debug({ op: 'open', store: store.kind, location: store.location }, 'vault opened');
  return new Vault(deps, getProvider, () => store.close());
}
