import { ensureSodium } from '../../crypto';
import { readKeyringDocument, replaceKeyringFile, withNewSigningKey } from '../../keys';
import { openWitness } from '../../audit';
import type { CommandContext } from '../context';
import { json } from '../output';

/**
 * `keys rotate-signing`: a new Ed25519 signing key becomes primary; the old one is retired
 * now but stays in the keyring (and its public half in the witness), so checkpoints it
 * signed during its period still verify, and any it "signs" later do not. The keyring is
 * replaced atomically, the old file kept as keyring.json.previous. Recorded in the access trail.
 */
export async function rotateSigningCommand(ctx: CommandContext): Promise<number> {
  await ensureSodium();
  const result = await ctx.asOperator((op) =>
    op.recorded('keys.rotate-signing', {}, async () => {
      const now = new Date();
      const before = await readKeyringDocument(ctx.config.keyring);
      const { doc, id } = withNewSigningKey(before, now);
      await replaceKeyringFile(ctx.config.keyring, doc);
      const entry = doc.signingKeys.find((k) => k.id === id)!;
      await openWitness(ctx.config.witness, ctx.config.s3).addPublicKeys(new Map([[id, new Uint8Array(Buffer.from(entry.publicKey, 'base64'))]]));
      return { previous: before.primarySigningKey, primary: id, at: now.toISOString() };
    }),
  );
  if (ctx.config.json) json(ctx.io, result);
  else ctx.io.out(`signing key ${result.primary} is primary from ${result.at}; ${result.previous} is retired (its checkpoints still verify)`);
  return 0;
}
