import { ensureSodium } from '../../crypto';
import { InputError } from '../../errors';
import { signingPeriods, updateKeyringFile, withNewSigningKey } from '../../keys';
import { openWitness } from '../../audit';
import type { CommandContext } from '../context';
import { json } from '../output';
import { intFlag, timeFlag } from '../input';
import { progressBar } from '../progress';

/**
 * `keys rotate-signing`: a new Ed25519 signing key becomes primary; the old one is retired
 * now but stays in the keyring (and its public half in the witness), so checkpoints it
 * signed during its period still verify, and any it "signs" later do not. The keyring is
 * replaced atomically, the old file kept as keyring.json.previous. Recorded in the access
 * trail, and followed there by a record the new key signs (`keys.signing-key:<id>`).
 * Refused (INVALID_CONFIG, nothing recorded) when the vault signs with a key from elsewhere.
 */
export async function rotateSigningCommand(ctx: CommandContext): Promise<number> {
  await ensureSodium();
  // The vault signs with the key its settings name; a new keyring key would sign nothing.
  const elsewhere = ctx.config.keys.pkcs11Signing ? 'is in the PKCS#11 token (VAULT_PKCS11_SIGNING_KEY): create a pair under a new label and name it there' : ctx.config.keys.envSigning ? 'comes from VAULT_SIGNING_KEY: set a new one there' : null;
  if (elsewhere) throw new InputError('INVALID_CONFIG', `the signing key ${elsewhere}; keys rotate-signing rotates the keyring's`);
  const result = await ctx.asOperator(async (op) => {
    const rotated = await op.recorded('keys.rotate-signing', {}, async () => {
      const now = new Date();
      let [previous, id] = ['', ''];
      const doc = await updateKeyringFile(ctx.config.keyring, (before) => {
        const rotated = withNewSigningKey(before, now);
        [previous, id] = [before.primarySigningKey, rotated.id];
        return rotated.doc;
      });
      // The new key, and the old one's retirement, beside the keys: `verify` with no keyring
      // and an auditor's `verify-bundle --trusted-keys` bound the retired key by it.
      const keys = new Map(doc.signingKeys.map((k) => [k.id, new Uint8Array(Buffer.from(k.publicKey, 'base64'))]));
      await openWitness(ctx.config.witness, ctx.config.s3).addPublicKeys(keys, signingPeriods(doc.signingKeys));
      return { previous, primary: id, at: now.toISOString() };
    });
    // The new key's first record, at once: from it on, no record the retired key signs
    // counts as the vault's, however it is dated (audit/key-period.ts, recordInPeriod).
    await op.recorded(`keys.signing-key:${rotated.primary}`, {}, async () => undefined);
    return rotated;
  });
  if (ctx.config.json) json(ctx.io, result);
  else ctx.io.out(`signing key ${result.primary} is primary from ${result.at}; ${result.previous} is retired (its checkpoints still verify)`);
  return 0;
}

/**
 * `keys retire-signing <id> [--at ISO]`: a signing key from `VAULT_SIGNING_KEY` or a
 * PKCS#11 token, rotated away (the vault now signs with another), is retired in the
 * witness (vault/signing-keys.ts), so that its leaked secret half signs nothing that counts.
 * Recorded in the access trail (`keys.retire-signing:<id>`).
 */
export async function retireSigningCommand(ctx: CommandContext, id: string, flags: { at?: string }): Promise<number> {
  await ensureSodium();
  const at = timeFlag(flags.at, '--at');
  const retiredAt = await ctx.asOperator((op) => op.retireSigningKey(id, at));
  if (ctx.config.json) json(ctx.io, { id, retiredAt: retiredAt.toISOString() });
  else ctx.io.out(`signing key ${id} is retired from ${retiredAt.toISOString()}: nothing it signs after that (and 5 minutes' grace) counts`);
  return 0;
}

/** `keys list <tenant>`: versions, states, creation times, sessions each protects. Never key material. */
export async function keysListCommand(ctx: CommandContext, tenant: string): Promise<number> {
  const keys = await ctx.withVault((v) => v.keys(tenant));
  if (ctx.config.json) json(ctx.io, keys);
  else {
    ctx.io.out('VERSION\tSTATE\tCREATED\tSESSIONS\tWRAPPED BY');
    for (const k of keys) ctx.io.out(`${k.version}\t${k.state}\t${k.createdAt}\t${k.sessions}\t${k.masterKeyId}`);
  }
  return 0;
}

/** `keys rotate <tenant>`: a new primary tenant key version. */
export async function keysRotateCommand(ctx: CommandContext, tenant: string): Promise<number> {
  const r = await ctx.asOperator((op) => op.rotateKey(tenant));
  if (ctx.config.json) json(ctx.io, { tenant, ...r });
  else ctx.io.out(`tenant ${tenant}: key version ${r.version} is primary; version ${r.previous} is active until \`keys rewrap ${tenant}\` moves its sessions`);
  return 0;
}

/**
 * `keys check [<tenant>] [--sign]`: every tenant key version and session key unwrapped,
 * none kept. Exit 1 when any does not open (a key written over or re-bound outside the
 * vault), as `verify` exits 1 on an integrity problem, or where a tenant whose wraps are
 * all signed holds one no trusted key signed. `--sign` signs the wraps that open and carry
 * no signature, and makes each tenant it leaves with none take signed wraps only (drizzle/0051).
 * Recorded in the access trail (`keys.check`, `keys.sign`).
 */
export async function keysCheckCommand(ctx: CommandContext, tenant?: string, flags: { sign?: boolean } = {}): Promise<number> {
  const r = await ctx.asOperator((op) => op.checkKeys(tenant, { sign: flags.sign === true }));
  if (ctx.config.json) json(ctx.io, r);
  else {
    const unreadable = r.problems.some((p) => p.kind.endsWith('_unreadable'));
    ctx.io.out(`${r.ok ? 'OK' : unreadable ? 'KEYS THAT DO NOT OPEN' : 'WRAPS WRITTEN OUTSIDE THE VAULT'}: ${r.tenants} tenant(s), ${r.tenantKeys} tenant key(s), ${r.sessionKeys} session key(s) checked`);
    if (r.unsigned > 0) ctx.io.out(`  ${r.unsigned} wrap(s) open but carry no trusted signature; ${r.signed > 0 ? `${r.signed} signed now` : 'verify names them: `keys check --sign` signs them'}`);
    ctx.io.out(`  ${r.signedOnly} of ${r.tenants} tenant(s) take signed key wraps only${r.signedOnly < r.tenants ? ' (`keys check --sign` makes the others so once their wraps are signed)' : ''}`);
    for (const p of r.problems) ctx.io.out(`  ${p.tenant}${p.session === undefined ? '' : `/${p.session}`} version ${p.version}: ${p.kind} (${p.code})`);
  }
  return r.ok ? 0 : 1;
}

/** `keys rewrap <tenant>`: every session key under the primary version; resumable; progress bar. */
export async function keysRewrapCommand(ctx: CommandContext, tenant: string): Promise<number> {
  let bar: ReturnType<typeof progressBar> | undefined;
  const r = await ctx.asOperator((op) =>
    op.rewrap(tenant, (done, total) => {
      bar ??= progressBar(total, `rewrapping ${tenant}`);
      bar.tick();
      void done;
    }),
  );
  bar?.stop();
  if (ctx.config.json) json(ctx.io, { tenant, ...r });
  else ctx.io.out(`tenant ${tenant}: ${r.rewrapped} session key(s) rewrapped under version ${r.primary}${r.held > 0 ? `; ${r.held} under legal hold left as they are` : ''}`);
  return 0;
}

/** `keys retire <tenant> --version N` and `keys destroy <tenant> --version N`. */
export async function keysStateCommand(ctx: CommandContext, tenant: string, flags: { version?: string }, to: 'retire' | 'destroy'): Promise<number> {
  const version = intFlag(flags.version, '--version');
  if (version === undefined) throw new InputError('INVALID_INPUT', `keys ${to} needs --version N`);
  await ctx.asOperator((op) => (to === 'retire' ? op.retireKey(tenant, version) : op.destroyKey(tenant, version)));
  if (ctx.config.json) json(ctx.io, { tenant, version, state: to === 'retire' ? 'retired' : 'destroyed' });
  else ctx.io.out(`tenant ${tenant}: key version ${version} ${to === 'retire' ? 'retired' : 'destroyed'}`);
  return 0;
}

/** `keys shred <tenant> [--session S]`: crypto-shredding; refused under legal hold. */
export async function keysShredCommand(ctx: CommandContext, tenant: string, flags: { session?: string }): Promise<number> {
  const r = await ctx.asOperator((op) => op.shred(tenant, flags.session));
  if (ctx.config.json) json(ctx.io, { tenant, session: flags.session ?? null, ...r });
  else {
    const what = flags.session ? `${tenant}/${flags.session}` : `every session and key of ${tenant}`;
    ctx.io.out(`shredded ${what}: ${r.sessions} session key(s) destroyed${r.tenantKeysDestroyed ? ', all tenant key versions destroyed' : ''}; content can never be read again, chains still verify`);
  }
  return 0;
}

/** `keys rotate-master`: a new master key; every tenant key rewrapped; the old one removed once unused. Resumable. */
export async function rotateMasterCommand(ctx: CommandContext): Promise<number> {
  let bar: ReturnType<typeof progressBar> | undefined;
  const r = await ctx.asOperator((op) =>
    op.rotateMaster((_done, total) => {
      bar ??= progressBar(total, 'rewrapping tenant keys');
      bar.tick();
    }),
  );
  bar?.stop();
  if (ctx.config.json) json(ctx.io, r);
  else {
    ctx.io.out(`master key ${r.primary} is primary${r.created ? ' (new)' : ' (finishing an interrupted rotation)'}; ${r.rewrapped} tenant key(s) rewrapped`);
    if (r.removed.length) ctx.io.out(`removed master key(s) ${r.removed.join(', ')} from the keyring (kept in keyring.json.previous until the next change)`);
  }
  return 0;
}
