import path from 'node:path';
import { InputError } from '../errors';
import type { S3Settings } from '../objects';
import { DEFAULT_HOME, type VaultOptions } from '../vault';

/** Global flags every command accepts (shared/spec/cli.md, "Where the vault lives"). */
export interface GlobalFlags {
  home?: string;
  db?: string;
  schema?: string;
  appRole?: string;
  keyring?: string;
  witness?: string;
  archive?: string;
  actor?: string;
  reason?: string;
  lockTimeout?: string;
  json?: boolean;
  debug?: boolean;
}

/** Resolved settings: flag, else environment variable, else default. The only place env is read. */
export interface CliConfig {
  home: string;
  database: string | undefined;
  /** The database schema of the vault (VAULT_DB_SCHEMA); undefined: session_vault, or `public` for a vault an earlier version made there. */
  schema: string | undefined;
  /** The role to act as (VAULT_APP_ROLE); undefined: session_vault_operator if the login may, else session_vault_app. */
  appRole: string | undefined;
  keyring: string;
  /** A folder, or s3://bucket/prefix. */
  witness: string;
  /** The archive store: a folder, or s3://bucket/prefix. */
  archive: string;
  /** S3 client settings from the environment: VAULT_S3_ENDPOINT (MinIO, Ceph…), AWS_REGION; credentials from the AWS default chain. */
  s3: S3Settings;
  /** Master key custody (docs/key-management.md): which provider, and each configured one's settings. */
  keys: KeySettings;
  /** OpenAI settings for `chat`, from OPENAI_API_KEY, OPENAI_BASE_URL and OPENAI_MODEL. */
  openai: { apiKey: string | undefined; baseURL: string | undefined; model: string };
  /** The operator id for the access trail (required where it applies). */
  actor: string | undefined;
  reason: string | undefined;
  lockTimeoutMs: number;
  /** VAULT_PG_ROLE_ON_CONNECT=0: the login role sets the application role itself (PgBouncer, RDS Proxy). */
  roleOnConnect: boolean;
  /** VAULT_PG_STATEMENT_TIMEOUT (whole seconds, 0: none); undefined: the library's default (60 s). */
  statementTimeoutMs: number | undefined;
  /** VAULT_PAD_CONTENT=0: seal without padding, as a version before padding did (a rolling upgrade's first step); 1 or unset: pad. */
  padContent: boolean;
  json: boolean;
  debug: boolean;
  logLevel: string;
}

export function resolveConfig(flags: GlobalFlags, env: NodeJS.ProcessEnv = process.env): CliConfig {
  const home = path.resolve(flags.home ?? env.VAULT_HOME ?? DEFAULT_HOME);
  const lockTimeout = flags.lockTimeout ?? '30';
  if (!/^\d{1,4}$/.test(lockTimeout)) throw new InputError('INVALID_INPUT', '--lock-timeout takes whole seconds (0..9999)');
  return {
    home,
    database: flags.db ?? (env.VAULT_DATABASE_URL || undefined),
    schema: flags.schema ?? (env.VAULT_DB_SCHEMA || undefined),
    appRole: flags.appRole ?? (env.VAULT_APP_ROLE || undefined),
    keyring: path.resolve(flags.keyring ?? env.VAULT_KEYRING ?? path.join(home, 'keyring.json')),
    witness: resolveLocation(flags.witness ?? env.VAULT_WITNESS ?? path.join(home, 'witness')),
    archive: resolveLocation(flags.archive ?? env.VAULT_ARCHIVE ?? path.join(home, 'archive')),
    s3: s3Config(env),
    keys: keySettings(env),
    openai: { apiKey: env.OPENAI_API_KEY || undefined, baseURL: env.OPENAI_BASE_URL || undefined, model: env.OPENAI_MODEL || 'gpt-4.1-mini' },
    actor: flags.actor ?? (env.VAULT_ACTOR || undefined),
    reason: flags.reason,
    lockTimeoutMs: Number(lockTimeout) * 1000,
    roleOnConnect: env.VAULT_PG_ROLE_ON_CONNECT !== '0',
    statementTimeoutMs: statementTimeout(env.VAULT_PG_STATEMENT_TIMEOUT),
    padContent: padContent(env.VAULT_PAD_CONTENT),
    json: flags.json === true,
    debug: flags.debug === true,
    // The CLI is quiet by default: its output is the answer; logs are for operators who ask.
    logLevel: env.VAULT_LOG_LEVEL ?? (flags.debug ? 'debug' : 'warn'),
  };
}

export interface KeySettings {
  /** VAULT_KEY_PROVIDER, else the one whose settings are given (env, then pkcs11, then kms), else the keyring file. */
  provider: 'keyring' | 'env' | 'pkcs11' | 'kms';
  /** VAULT_MASTER_KEY and VAULT_SIGNING_KEY (base64), for containers without a keyring file. */
  envMaster?: string;
  envSigning?: string;
  /** VAULT_PKCS11_MODULE, VAULT_PKCS11_TOKEN, VAULT_PKCS11_PIN, VAULT_PKCS11_KEY (default session-vault-master). */
  pkcs11?: { module: string; token: string; pin: string; keyLabel: string };
  /** VAULT_PKCS11_SIGNING_KEY: the label of the checkpoint signing key pair in that token (never with VAULT_SIGNING_KEY). */
  pkcs11Signing?: { module: string; token: string; pin: string; keyLabel: string };
  /** VAULT_KMS_KEY_ID, VAULT_KMS_ENDPOINT (a KMS-compatible service), AWS_REGION; credentials from the AWS default chain. */
  kms?: { keyId: string; endpoint?: string; region: string };
}

const PROVIDERS = ['keyring', 'env', 'pkcs11', 'kms'] as const;

function keySettings(env: NodeJS.ProcessEnv): KeySettings {
  const pkcs11 = env.VAULT_PKCS11_MODULE
    ? { module: env.VAULT_PKCS11_MODULE, token: env.VAULT_PKCS11_TOKEN ?? '', pin: env.VAULT_PKCS11_PIN ?? '', keyLabel: env.VAULT_PKCS11_KEY || 'session-vault-master' }
    : undefined;
  if (pkcs11 && (!pkcs11.token || !pkcs11.pin)) throw new InputError('INVALID_CONFIG', 'VAULT_PKCS11_MODULE needs VAULT_PKCS11_TOKEN and VAULT_PKCS11_PIN');
  const signingLabel = env.VAULT_PKCS11_SIGNING_KEY || undefined;
  if (signingLabel && !pkcs11) throw new InputError('INVALID_CONFIG', 'VAULT_PKCS11_SIGNING_KEY needs VAULT_PKCS11_MODULE, VAULT_PKCS11_TOKEN and VAULT_PKCS11_PIN');
  if (signingLabel && env.VAULT_SIGNING_KEY) throw new InputError('INVALID_CONFIG', 'VAULT_SIGNING_KEY and VAULT_PKCS11_SIGNING_KEY both name a signing key: set one');
  const kms = env.VAULT_KMS_KEY_ID ? { keyId: env.VAULT_KMS_KEY_ID, ...(env.VAULT_KMS_ENDPOINT ? { endpoint: env.VAULT_KMS_ENDPOINT } : {}), region: env.AWS_REGION || 'us-east-1' } : undefined;
  const master = env.VAULT_MASTER_KEY || undefined;
  const named = env.VAULT_KEY_PROVIDER || undefined;
  if (named !== undefined && !(PROVIDERS as readonly string[]).includes(named)) {
    throw new InputError('INVALID_CONFIG', `VAULT_KEY_PROVIDER is one of ${PROVIDERS.join(', ')}`);
  }
  const provider = (named as KeySettings['provider'] | undefined) ?? (master ? 'env' : pkcs11 ? 'pkcs11' : kms ? 'kms' : 'keyring');
  return {
    provider,
    ...(master ? { envMaster: master } : {}),
    ...(env.VAULT_SIGNING_KEY ? { envSigning: env.VAULT_SIGNING_KEY } : {}),
    ...(pkcs11 ? { pkcs11 } : {}),
    ...(pkcs11 && signingLabel ? { pkcs11Signing: { ...pkcs11, keyLabel: signingLabel } } : {}),
    ...(kms ? { kms } : {}),
  };
}

function resolveLocation(l: string): string {
  return l.startsWith('s3://') ? l : path.resolve(l);
}

function s3Config(env: NodeJS.ProcessEnv): S3Settings {
  const endpoint = env.VAULT_S3_ENDPOINT || undefined;
  return { region: env.AWS_REGION || 'us-east-1', ...(endpoint ? { endpoint, forcePathStyle: true } : {}) };
}

/** openVault options for a resolved config. */
export function vaultOptions(c: CliConfig): VaultOptions {
  return { home: c.home, database: c.database, keyring: c.keyring, witness: c.witness, archive: c.archive, s3: c.s3, lockTimeoutMs: c.lockTimeoutMs, logLevel: c.logLevel, roleOnConnect: c.roleOnConnect, schema: c.schema, appRole: c.appRole, padContent: c.padContent, ...(c.statementTimeoutMs !== undefined ? { statementTimeoutMs: c.statementTimeoutMs } : {}) };
}

function padContent(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === '1') return true;
  if (value === '0') return false;
  throw new InputError('INVALID_CONFIG', 'VAULT_PAD_CONTENT is 1 (pad sealed content, the default) or 0 (do not, for a rolling upgrade)');
}

function statementTimeout(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 86_400) throw new InputError('INVALID_CONFIG', 'VAULT_PG_STATEMENT_TIMEOUT takes whole seconds (0..86400; 0: none)');
  return Number(value) * 1000;
}
