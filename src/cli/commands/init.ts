import { promises as fs } from 'node:fs';
import { ensureSodium } from '../../crypto';
import { createKeyringFile, readKeyringFile } from '../../keys';
import { openWitness } from '../../audit';
import type { CommandContext } from '../context';
import { json } from '../output';

/**
 * `init`: the home folder (0700), a keyring (0600) if there is none, and the database
 * migrated. Idempotent. An existing keyring is validated, never replaced.
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
  const keyringCreated = await createKeyringFile(keyring, new Date());
  const keys = await readKeyringFile(keyring); // an existing keyring must still be sound
  // The witness keeps the signing public keys, so `verify` needs no keyring.
  await openWitness(ctx.config.witness, ctx.config.s3).addPublicKeys(new Map([...keys.signingKeys].map(([id, k]) => [id, k.publicKey])));
  for (const m of keys.masterKeys.values()) m.key.dispose();
  for (const s of keys.signingKeys.values()) s.secretKey.dispose();
  const database = await ctx.withVault(async (v) => v.location, { create: true });
  const created = homeCreated || keyringCreated;
  if (ctx.config.json) json(ctx.io, { home, database, keyring, witness: ctx.config.witness, created });
  else {
    ctx.io.out(`home      ${home}${homeCreated ? ' (created)' : ''}`);
    ctx.io.out(`keyring   ${keyring}${keyringCreated ? ' (created, mode 0600)' : ' (existing, valid)'}`);
    ctx.io.out(`database  ${database} (migrated)`);
    ctx.io.out(`witness   ${ctx.config.witness}`);
  }
  return 0;
}
