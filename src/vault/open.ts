import { statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError, KeyError } from '../errors';
import { ensureSodium } from '../crypto';
import { LocalKeyProvider, chainKeyProviders, guardKeyProvider, readKeyringFile, signingPeriods, type KeyProvider, type KeyringData } from '../keys';
import { KEY_PERIOD_GRACE_MS, openWitness, type CheckpointSigner, type KeyPeriods } from '../audit';
import { createLogger, type Logger } from '../observability';
import { openStore } from '../store';
import { FolderObjectStore, S3ObjectStore, type ObjectLockMode, type S3Settings } from '../objects';
import { DEFAULT_POLICY, parsePolicy } from '../retention';
import { KeyAccess } from './key-access';
import { wrapCheck } from './trusted-wrap';
import { KeyedMutex } from './mutex';
import { GroupCommit } from './group-commit';
import { SessionCache } from './session-cache';
import { BackgroundTasks } from './background';
import { ReleaseKey } from './release-key';
import { Vault } from './vault';

/** Options of openVault; every one has a default (shared/spec/cli.md, "Where the vault lives"). */
export interface VaultOptions {
  /** Home folder. Default `./.session-vault`. */
  home?: string;
  /** `postgres://…`, `memory://`, or undefined for the embedded store in `$home/db`. */
  database?: string;
  /** Keyring file. Default `$home/keyring.json`. Read on first use of a key, so `verify` needs none. */
  keyring?: string;
  /** Wraps tenant keys instead of the keyring file's master keys (KMS, HSM, EnvKeyProvider). */
  keyProvider?: KeyProvider;
  /** Signs checkpoints instead of the keyring file's signing key (with a keyProvider, for a vault with no keyring file). */
  signer?: CheckpointSigner;
  /** How long to wait for another process holding the embedded store. Default 30 000 ms. */
  lockTimeoutMs?: number;
  /** Told once when another process holds the embedded store, before the wait (the CLI prints it). */
  onLockWait?: (dir: string, timeoutMs: number) => void;
  /** Apply pending migrations on open. Default true; false when the login role cannot run DDL (an outdated vault is then refused). */
  migrate?: boolean;
  /**
   * Postgres: act as the vault's role (`appRole`) through a connection startup option
   * (default true). Behind PgBouncer or RDS Proxy, which do not pass startup options on,
   * set it false and give the login role `ALTER ROLE … SET role = session_vault_app` (or
   * `…_operator`) instead (docs/operations.md). Either way the vault refuses a connection
   * that is not acting as a role of the vault's family.
   */
  roleOnConnect?: boolean;
  /**
   * Postgres: act as the login role itself rather than a role of the vault's family.
   * For `session-vault init`, whose login is the tables' owner (which need be a member of
   * none of the vault's roles): it migrates and registers the release key (drizzle/0078).
   * Default false. The embedded store ignores it.
   */
  asLogin?: boolean;
  /**
   * The database schema of the vault's tables and functions. Default `session_vault`; a
   * vault an earlier version made in `public` is opened there when no schema is given.
   * Several vaults may share one database in different schemas.
   */
  schema?: string;
  /**
   * The database role this vault's connections act as: the application role
   * (`session_vault_app`: append and read), its retention role (`…_retention`: also
   * archive, purge, restore), its operator role (`…_operator`: also tenants, keys,
   * retention policies, tokens), its legal role (`…_legal`: also legal holds) or its
   * auditor role (`…_auditor`: read only); docs/operations.md, "Database roles". Default:
   * the operator role if the login may act as it, else the retention role if it may, else
   * the application role; a hold's transaction acts as the legal role. Cluster-wide on a server, so vaults of one cluster that
   * must not share privileges take different names (`claims_vault_app` and its family).
   */
  appRole?: string;
  /**
   * Postgres: the longest one statement may run, waits for locks included (the server's
   * `statement_timeout`), the longest a transaction may sit idle before the server ends
   * its connection (`idle_in_transaction_session_timeout`: a client frozen mid-transaction
   * releases its locks), and, capped at 10 s, the longest a connection may take to open.
   * Past it the call fails with STORAGE_UNAVAILABLE and writes nothing, instead of hanging
   * while a DBA holds a lock or a server does not answer. Default 60 000; 0: none. Sent
   * with the application role's startup option; behind a pooler (`roleOnConnect: false`)
   * give the login role `ALTER ROLE … SET statement_timeout` instead. The embedded store
   * ignores it.
   */
  statementTimeoutMs?: number;
  /** Create the store when none exists. Default true; false makes a missing vault NO_VAULT (exit 4), creating nothing. */
  create?: boolean;
  /** A pino logger; default JSON on stderr at `logLevel`. */
  logger?: Logger;
  /** Default: `VAULT_LOG_LEVEL`, else 'info'. */
  logLevel?: string;
  /** Events per read page. Default 500. */
  pageSize?: number;
  /** Sign each appended batch's chain head with the keyring's signing key. Default true. */
  checkpoints?: boolean;
  /** Witness for checkpoints, outside the database: a folder, or `s3://bucket/prefix`. Default `$home/witness`; false for none. */
  witness?: string | false;
  /** Archive store for retention: a folder, or `s3://bucket/prefix`. Default `$home/archive`. */
  archive?: string;
  /** Object Lock mode for archive objects in an S3 bucket with Object Lock enabled. Default COMPLIANCE. */
  archiveLockMode?: ObjectLockMode;
  /** Retention policy for tenants without their own. Default archive after 30d, retain 7y. */
  defaultRetention?: { archiveAfter: string; retain: string };
  /** S3 client settings for an `s3://` witness or archive (endpoint, region, credentials, forcePathStyle). */
  s3?: S3Settings;
  /**
   * A read of the latest state seals a snapshot, in the background, when the last one is
   * this many events behind (sooner while the session is young: see snapshots.ts), 0:
   * never. Default 500.
   */
  snapshotEvery?: number;
  /**
   * Entries of each list (messages, tool calls, agent items, model errors) a snapshot
   * keeps, and so the widest `state({ window })` answered at a cost flat in the session's
   * length; a wider one replays every event. Default 100.
   */
  snapshotWindow?: number;
  /**
   * Sessions whose latest state this process holds in memory, decrypted, as it last
   * folded it (src/vault/session-cache.ts): the next read of one asks the database only
   * for the events after it, checked against the chain. Each holds about `snapshotWindow`
   * entries of each list. 0: none (every read opens a snapshot). Default 32.
   */
  stateCache?: number;
  /**
   * Pad each event's and each snapshot's plaintext before sealing it (docs/formats.md,
   * "Padding"), so a ciphertext's length says little of its content. Default true. False
   * seals as a version before padding did, which that version can read: for a rolling
   * upgrade, until every process runs this one (docs/operations.md).
   */
  padContent?: boolean;
  /** The clock for event times (tests). Default `() => new Date()`. */
  clock?: () => Date;
}

const optionsSchema = z.strictObject({
  home: z.string().min(1).optional(),
  database: z.string().optional(),
  keyring: z.string().min(1).optional(),
  keyProvider: z.custom<KeyProvider>((v) => typeof v === 'object' && v !== null).optional(),
  signer: z.custom<CheckpointSigner>((v) => typeof v === 'object' && v !== null).optional(),
  lockTimeoutMs: z.number().int().nonnegative().max(3_600_000).optional(),
  onLockWait: z.custom<(dir: string, timeoutMs: number) => void>((v) => typeof v === 'function').optional(),
  migrate: z.boolean().optional(),
  create: z.boolean().optional(),
  roleOnConnect: z.boolean().optional(),
  asLogin: z.boolean().optional(),
  statementTimeoutMs: z.number().int().min(0).max(86_400_000).optional(),
  schema: z.string().optional(),
  appRole: z.string().optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null).optional(),
  logLevel: z.string().optional(),
  pageSize: z.number().int().min(1).max(10_000).optional(),
  checkpoints: z.boolean().optional(),
  witness: z.union([z.string().min(1), z.literal(false)]).optional(),
  archive: z.string().min(1).optional(),
  archiveLockMode: z.enum(['COMPLIANCE', 'GOVERNANCE']).optional(),
  defaultRetention: z.strictObject({ archiveAfter: z.string(), retain: z.string() }).optional(),
  s3: z.custom<S3Settings>((v) => typeof v === 'object' && v !== null).optional(),
  clock: z.custom<() => Date>((v) => typeof v === 'function').optional(),
  snapshotEvery: z.number().int().min(0).max(1_000_000).optional(),
  snapshotWindow: z.number().int().min(1).max(100_000).optional(),
  stateCache: z.number().int().min(0).max(100_000).optional(),
  padContent: z.boolean().optional(),
});

function statOrNull(file: string): Stats | null {
  try {
    return statSync(file);
  } catch {
    return null;
  }
}

/** Default home folder. */
export const DEFAULT_HOME = '.session-vault';

/** Default statementTimeoutMs: a minute, far above any one statement the vault sends. */
const DEFAULT_STATEMENT_TIMEOUT_MS = 60_000;

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
  const defaultRetention = o.defaultRetention ? parsePolicy(o.defaultRetention) : DEFAULT_POLICY;
  await ensureSodium();
  const home = path.resolve(o.home ?? DEFAULT_HOME);
  const keyringPath = path.resolve(o.keyring ?? path.join(home, 'keyring.json'));
  const logger = o.logger ?? createLogger({ level: o.logLevel ?? process.env.VAULT_LOG_LEVEL ?? 'info' });
  const store = await openStore({ url: o.database, home, lockTimeoutMs: o.lockTimeoutMs ?? 30_000, migrate: o.migrate ?? true, create: o.create ?? true, onLockWait: o.onLockWait, roleOnConnect: o.roleOnConnect, asLogin: o.asLogin, schema: o.schema, appRole: o.appRole, statementTimeoutMs: o.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS });

  // The keyring is read on first need and again whenever the file is replaced (a key
  // rotation by another process), so a long-running vault never keeps signing with a
  // retired key. A failed read is not cached: fixing the keyring's mode and retrying works.
  // A synchronous stat (microseconds) rather than fs.stat, whose trip through libuv's
  // thread pool cost more than sealing the event on every append of a loaded machine.
  let keyring: { stamp: string; data: Promise<KeyringData> } | undefined;
  const getKeyring = async (): Promise<KeyringData> => {
    const st = statOrNull(keyringPath);
    const stamp = st ? `${st.ino}:${st.mtimeMs}:${st.size}` : 'absent';
    if (!keyring || keyring.stamp !== stamp) {
      const entry = { stamp, data: readKeyringFile(keyringPath) };
      keyring = entry;
      entry.data.catch(() => {
        if (keyring === entry) keyring = undefined;
      });
    }
    return keyring.data;
  };
  // With a provider of its own (HSM, KMS, environment), a keyring file that still holds
  // master keys stays a fallback for unwrapping only, so tenant keys can be moved off it
  // (`keys rotate-master`) while the vault runs; new wraps always go to the provider.
  // The caller's own provider fails as the vault's errors do, whatever it throws (guard.ts).
  const own = o.keyProvider ? guardKeyProvider(o.keyProvider) : undefined;
  const getProvider = async (): Promise<KeyProvider> => {
    if (!own) return new LocalKeyProvider(await getKeyring());
    if (!statOrNull(keyringPath)) return own;
    const kr = await getKeyring().catch(() => null);
    return kr && kr.masterKeys.size > 0 ? chainKeyProviders(own, new LocalKeyProvider(kr)) : own;
  };
  const witnessAt = o.witness ?? path.join(home, 'witness');
  const witness = witnessAt === false ? null : openWitness(witnessAt.startsWith('s3://') ? witnessAt : path.resolve(witnessAt), o.s3);
  const archiveAt = o.archive ?? path.join(home, 'archive');
  const archive = archiveAt.startsWith('s3://')
    ? new S3ObjectStore(archiveAt, o.s3 ?? {}, 'archive', o.archiveLockMode)
    : new FolderObjectStore(path.resolve(archiveAt), 'archive');
  const clock = o.clock ?? (() => new Date());
  // The witness's periods: for keys the keyring does not hold (a key from the environment
  // or a token, retired with `keys retire-signing`; every key on a machine with no keyring,
  // `verify` on an operator's or auditor's), and a retirement the keyring copy here does not
  // know of yet. Read at most once a minute.
  let witnessed: { at: number; periods: KeyPeriods } | null = null;
  const witnessPeriods = async (): Promise<KeyPeriods> => {
    if (!witness) return new Map();
    if (witnessed && Date.now() - witnessed.at < 60_000) return witnessed.periods;
    try {
      witnessed = { at: Date.now(), periods: await witness.keyPeriods() };
    } catch (e) {
      // With neither keyring nor signer this is a `verify`: it must not pass what the periods bound.
      if (!o.signer && !statOrNull(keyringPath)) throw e;
      // A host that signs goes on (an unreachable witness never stops an append), with what it read last.
      logger.warn({ op: 'witness', err: e }, "could not read the signing keys' periods from the witness; using the last read");
      witnessed = { at: Date.now(), periods: witnessed?.periods ?? new Map() };
    }
    return witnessed.periods;
  };
  const published = new Set<string>();
  // The witness keeps the public key, so verification needs no keyring. Best effort here:
  // an unreachable witness must never stop the agent from appending (`init` and
  // `checkpoint` publish it too, and fail loudly).
  const publish = async (id: string, publicKey: Uint8Array) => {
    if (!witness || published.has(id)) return;
    // With the keyring's periods, and a key from elsewhere's first use as its creation.
    const periods = await keyringPeriods();
    if (!periods.has(id)) periods.set(id, { from: clock(), until: null });
    await witness
      .addPublicKeys(new Map([[id, publicKey]]), periods)
      .then(() => published.add(id))
      .catch((e: unknown) => logger.warn({ op: 'witness', err: e }, 'could not publish the signing key to the witness; will retry'));
  };
  const getSigner = async (): Promise<CheckpointSigner | null> => {
    if (o.checkpoints === false) return null;
    let signer = o.signer;
    if (!signer) {
      const k = await getKeyring();
      const entry = k.signingKeys.get(k.primarySigningKey)!;
      signer = { id: k.primarySigningKey, publicKey: entry.publicKey, secretKey: entry.secretKey };
    }
    await publish(signer.id, signer.publicKey);
    // A key the witness states was retired (`keys rotate-signing` on another host, `keys
    // retire-signing`) signs nothing here past the grace: every other process would refuse
    // what it signed, for good. Refused loudly instead: this host's keys are out of date.
    const retiredAt = (await witnessPeriods()).get(signer.id)?.until;
    if (retiredAt && clock().getTime() > retiredAt.getTime() + KEY_PERIOD_GRACE_MS) {
      throw new KeyError('SIGNING_KEY_RETIRED', `the signing key ${signer.id} was retired at ${retiredAt.toISOString()}, as the witness states: this host's keyring or signing key is out of date; sign with the key that followed it`);
    }
    return signer;
  };
  const trustedKeys = async (): Promise<Map<string, Uint8Array>> => {
    const keys = new Map(await (witness?.publicKeys() ?? Promise.resolve(new Map<string, Uint8Array>())));
    const k = await getKeyring().catch(() => null); // verify works without a keyring
    for (const [id, s] of k?.signingKeys ?? []) keys.set(id, s.publicKey);
    if (o.signer) keys.set(o.signer.id, o.signer.publicKey);
    return keys;
  };
  const keyringPeriods = async () => {
    const k = await getKeyring().catch(() => null);
    return signingPeriods([...(k?.signingKeys ?? [])].map(([id, s]) => ({ id, createdAt: s.createdAt, retiredAt: s.retiredAt })));
  };
  // A key either states retired is retired, from the earlier of the two: a host whose
  // keyring copy was not replaced after a rotation holds the old key to the period the
  // witness states, as every other host does.
  const keyPeriods = async (): Promise<KeyPeriods> => {
    const own = await keyringPeriods();
    for (const [id, p] of await witnessPeriods()) {
      const mine = own.get(id);
      if (!mine) own.set(id, p);
      else if (p.until && (!mine.until || p.until < mine.until)) own.set(id, { from: mine.from, until: p.until });
    }
    return own;
  };
  const deps = {
    store,
    keys: new KeyAccess(getProvider, wrapCheck(getSigner, trustedKeys, keyPeriods)),
    cache: new SessionCache(1024, o.stateCache ?? 32),
    mutex: new KeyedMutex(),
    appends: new GroupCommit(store),
    logger,
    clock,
    pageSize: o.pageSize ?? 500,
    keyringPath,
    provider: getProvider,
    ownProvider: o.keyProvider !== undefined,
    signer: getSigner,
    trustedKeys,
    keyPeriods,
    witness,
    archive,
    releaseKey: new ReleaseKey(store, getProvider, logger),
    defaultRetention,
    snapshotEvery: o.snapshotEvery ?? 500,
    snapshotWindow: o.snapshotWindow ?? 100,
    padContent: o.padContent ?? true,
    background: new BackgroundTasks(logger),
  };
  logger.debug({ op: 'open', store: store.kind, location: store.location }, 'vault opened');
  const close = async () => {
    await deps.background.drain();
    deps.releaseKey.dispose();
    await store.close();
    const k = await keyring?.data.catch(() => null);
    for (const m of k?.masterKeys.values() ?? []) m.key.dispose();
    for (const sk of k?.signingKeys.values() ?? []) sk.secretKey.dispose();
  };
  return new Vault(deps, close);
}
