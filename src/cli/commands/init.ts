import { existsSync, promises as fs } from 'node:fs';
import { ensureSodium } from '../../crypto';
import { Pkcs11KeyProvider, Pkcs11Signer, createKeyringFile, readKeyringFile, signingPeriods } from '../../keys';
import { openKeys } from '../keys-config';
import { openWitness } from '../../audit';
import { releaseKeyOf } from '../../vault/vault';
import type { CommandContext } from '../context';
import { json } from '../output';

/**
 * `init`: the home folder (0700), a keyring (0600) if there is none, and the database
 * migrated. Idempotent. An existing keyring is validated, never replaced. With a key
 * provider (VAULT_MASTER_KEY, an HSM, a KMS) the keyring holds no master key, and with
 * VAULT_SIGNING_KEY (or a signing key in the token, VAULT_PKCS11_SIGNING_KEY) too there is
 * no keyring at all: init writes no secret to disk. With PKCS#11, the master key and the
 * signing key pair are created in the token if they are not there.
 */
export async function initCommand(ctx: CommandContext): Promise<number> {
  await ensureSodium();
  const { home, keyring } = ctx.config;
  const homeCreated = await fs
    .mkdir(home, { mode: 0o700 })
    .then(() => true)
    .catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'EEXIST') return false;
      throw e;
    });
  const custody = ctx.config.keys;
  const external = custody.provider !== 'keyring';
  const masterCreated = custody.provider === 'pkcs11' && custody.pkcs11 ? await Pkcs11KeyProvider.createMasterKey(custody.pkcs11) : false;
  const signingCreated = custody.pkcs11Signing ? await Pkcs11Signer.createKey(custody.pkcs11Signing) : false;
  const fileless = external && (custody.envSigning !== undefined || custody.pkcs11Signing !== undefined) && !existsSync(keyring);
  const keyringCreated = fileless ? false : await createKeyringFile(keyring, new Date(), { master: !external });
  // The witness keeps the signing public keys, so `verify` needs no keyring.
  const publicKeys = new Map<string, Uint8Array>();
  let periods = new Map<string, { from: Date; until: Date | null }>();
  if (!fileless) {
    const keys = await readKeyringFile(keyring); // an existing keyring must still be sound
    for (const [id, k] of keys.signingKeys) publicKeys.set(id, k.publicKey);
    periods = signingPeriods([...keys.signingKeys].map(([id, k]) => ({ id, createdAt: k.createdAt, retiredAt: k.retiredAt })));
    for (const m of keys.masterKeys.values()) m.key.dispose();
    for (const s of keys.signingKeys.values()) s.secretKey.dispose();
  }
  const opened = await openKeys(ctx.config);
  if (opened.signer) publicKeys.set(opened.signer.id, opened.signer.publicKey);
  opened.signer?.secretKey?.dispose();
  await opened.close();
  await openWitness(ctx.config.witness, ctx.config.s3).addPublicKeys(publicKeys, periods);
  // As its login (the tables' owner, which need be a member of none of the vault's roles):
  // it migrates, and registers the release key so that a retention job acting as the
  // retention role (which may not register one) can archive (drizzle/0078).
  const database = await ctx.withVault(
    async (v) => {
      await releaseKeyOf(v).ensure();
      return v.location;
    },
    { create: true, asLogin: true },
  );
  const created = homeCreated || keyringCreated;
  const keyringShown = fileless ? null : keyring;
  if (ctx.config.json) json(ctx.io, { home, database, keyring: keyringShown, keyProvider: custody.provider, witness: ctx.config.witness, created });
  else {
    ctx.io.out(`home      ${home}${homeCreated ? ' (created)' : ''}`);
    if (external) ctx.io.out(`keys      ${custody.provider}${masterCreated ? ' (master key created in the token)' : ''}`);
    if (custody.pkcs11Signing) ctx.io.out(`signing   pkcs11:${custody.pkcs11Signing.token}/${custody.pkcs11Signing.keyLabel}${signingCreated ? ' (key pair created in the token)' : ''}`);
    ctx.io.out(
      fileless
        ? `keyring   none (master key from the key provider, signing key ${custody.pkcs11Signing ? 'in the token' : 'from VAULT_SIGNING_KEY'})`
        : `keyring   ${keyring}${keyringCreated ? ` (created, mode 0600${external ? ', signing key only' : ''})` : ' (existing, valid)'}`,
    );
    ctx.io.out(`database  ${database} (migrated)`);
    ctx.io.out(`witness   ${ctx.config.witness}`);
  }
  return 0;
}
