import { exposeSecretBytes, hmacPads, releaseProof, type ReleaseSubject, type SecretBytes } from '../crypto';
import { KeyError, StorageError, VaultError } from '../errors';
import { newTenantKey, type KeyProvider, type TenantKeyRef } from '../keys';
import type { Logger } from '../observability';
import { readReleaseKeyWrap, registerReleaseKey, rewrapReleaseKey, type Store } from '../store';

/**
 * What the vault's release key is wrapped as: a tenant key of a tenant no id can name
 * (`TENANT_ID_PATTERN` starts with a letter or digit), so a provider binds it as it binds
 * any tenant key (associated data, KMS encryption context), and no tenant key's wrap can
 * stand in for it.
 */
export const RELEASE_KEY_REF: TenantKeyRef = { tenant: '.release', version: 0 };

/**
 * The vault's release key (drizzle/0078_release_key.sql, src/crypto/release-proof.ts):
 * the key whose HMAC the database asks for before it deletes an archived session's events.
 * Unwrapped once a process through the key provider; registered by the first process that
 * needs it where the vault has none, as its login (`init`, or an archive in a process not
 * asked to act as a given role): the registration function is the owner's alone (0080),
 * so only a process whose login owns the tables registers it. Its pads go to the database
 * and its wrap beside them.
 */
export class ReleaseKey {
  #key: Promise<SecretBytes> | null = null;

  constructor(
    private readonly store: Store,
    private readonly provider: () => Promise<KeyProvider>,
    private readonly logger: Logger,
  ) {}

  /** The proof that releases this session at this head and digest. */
  async proof(subject: ReleaseSubject): Promise<Uint8Array> {
    return releaseProof(exposeSecretBytes(await this.key()), subject);
  }

  /** Registers the key where the vault has none, and checks that this process can unwrap it (`init`). */
  async ensure(): Promise<void> {
    await this.key();
  }

  dispose(): void {
    const held = this.#key;
    this.#key = null;
    void held?.then((k) => k.dispose()).catch(() => {});
  }

  private key(): Promise<SecretBytes> {
    if (!this.#key) {
      const loading = this.load();
      this.#key = loading;
      loading.catch(() => {
        if (this.#key === loading) this.#key = null; // not cached: a fixed keyring or a registration by init works on the next try
      });
    }
    return this.#key;
  }

  private async load(): Promise<SecretBytes> {
    const provider = await this.provider();
    const unwrap = (w: { masterKeyId: string; wrapped: Uint8Array }) => provider.unwrapTenantKey(RELEASE_KEY_REF, w.masterKeyId, w.wrapped);
    const found = await readReleaseKeyWrap(this.store.db);
    if (found) return unwrap(found);
    const mine = await this.register(provider);
    if (mine) return mine;
    // Another process registered one between the read and the registration: use its key.
    const theirs = await readReleaseKeyWrap(this.store.db);
    if (!theirs) throw new KeyError('KEY_NOT_FOUND', 'the release key was registered by another process, yet its wrap cannot be read');
    return unwrap(theirs);
  }

  /** A new key, registered; null where another process registered one first (nothing changed). */
  private async register(provider: KeyProvider): Promise<SecretBytes | null> {
    const made = await newTenantKey(provider, RELEASE_KEY_REF);
    let registered = false;
    try {
      registered = await registerReleaseKey(this.store, { masterKeyId: made.masterKeyId, wrapped: made.wrapped }, hmacPads(exposeSecretBytes(made.key)));
    } catch (e) {
      made.key.dispose();
      if (e instanceof VaultError && e.code === 'PERMISSION_DENIED') {
        throw new StorageError(
          'PERMISSION_DENIED',
          'database refused registering the release key: insufficient privilege for this process (only the database owner registers it, 0080), and no process has registered one yet: run `session-vault init` as the database owner',
        );
      }
      throw e;
    }
    if (!registered) {
      made.key.dispose();
      return null;
    }
    this.logger.info({ op: 'keys.release-key', masterKeyId: made.masterKeyId }, 'release key registered');
    return made.key;
  }
}

/**
 * Moves the release key's wrap under the provider's current master (`keys rotate-master`),
 * unless `current` says it is there already; only if still wrapped as it was read.
 * Returns whether it moved. The key itself does not change: the database's pads hold.
 */
export async function rewrapReleaseKeyWith(store: Store, provider: KeyProvider, current: (masterKeyId: string) => boolean): Promise<boolean> {
  const wrap = await readReleaseKeyWrap(store.db);
  if (!wrap || current(wrap.masterKeyId)) return false;
  const key = await provider.unwrapTenantKey(RELEASE_KEY_REF, wrap.masterKeyId, wrap.wrapped);
  try {
    return await rewrapReleaseKey(store.db, wrap.masterKeyId, await provider.wrapTenantKey(RELEASE_KEY_REF, key));
  } finally {
    key.dispose();
  }
}
