import { InputError } from '../../errors';
import { addDuration, parseDuration } from '../../retention';
import type { Role } from '../../tokens';
import type { CommandContext } from '../context';
import { timeFlag } from '../input';
import { json, printable } from '../output';

/**
 * `tokens create <tenant> --role R [--label L] [--expires-in DUR | --expires-at ISO]`:
 * an API token for the HTTP service, printed this once (stdout only), recorded in the
 * access trail as `tokens.create:<id>:<role>` with --actor and --reason.
 */
export async function tokensCreateCommand(ctx: CommandContext, tenant: string, flags: { role?: string; label?: string; expiresIn?: string; expiresAt?: string }): Promise<number> {
  if (flags.role === undefined) throw new InputError('INVALID_INPUT', '--role is required: writer, reader, operator, auditor or admin');
  if (flags.expiresIn !== undefined && flags.expiresAt !== undefined) throw new InputError('INVALID_INPUT', 'give --expires-in or --expires-at, not both');
  const expiresAt = flags.expiresIn !== undefined ? addDuration(new Date(), parseDuration(flags.expiresIn, '--expires-in')) : timeFlag(flags.expiresAt, '--expires-at');
  const made = await ctx.asOperator((op) => op.createToken(tenant, { role: flags.role as Role, label: flags.label, expiresAt }));
  if (ctx.config.json) json(ctx.io, { ...made.info, token: made.token });
  else {
    ctx.io.out(`token ${made.info.id} (${made.info.role}, tenant ${made.info.tenant}${made.info.expiresAt ? `, expires ${made.info.expiresAt}` : ''})`);
    ctx.io.out(made.token);
    ctx.io.err('the token is shown this once: the vault keeps only its hash');
  }
  return 0;
}

/** `tokens list <tenant>`: ids, roles, labels, dates; never secrets. */
export async function tokensListCommand(ctx: CommandContext, tenant: string): Promise<number> {
  const tokens = await ctx.withVault((v) => v.tokens(tenant));
  if (ctx.config.json) json(ctx.io, tokens);
  else if (tokens.length === 0) ctx.io.out(`tenant ${tenant} has no API tokens`);
  else {
    for (const t of tokens) {
      const state = t.revokedAt ? `revoked ${t.revokedAt} by ${t.revokedBy}` : t.expiresAt ? `expires ${t.expiresAt}` : 'active';
      ctx.io.out(printable(`${t.id}  ${t.role.padEnd(8)}  ${t.createdAt}  ${t.createdBy}  ${state}${t.label ? `  "${t.label}"` : ''}`));
    }
  }
  return 0;
}

/** `tokens revoke <tenant> <id>`: for good, recorded as `tokens.revoke:<id>`. */
export async function tokensRevokeCommand(ctx: CommandContext, tenant: string, id: string): Promise<number> {
  const changed = await ctx.asOperator((op) => op.revokeToken(tenant, id));
  if (ctx.config.json) json(ctx.io, { tenant, id, revoked: true, changed });
  else ctx.io.out(`token ${id}: revoked${changed ? '' : ' (already)'}`);
  return 0;
}
