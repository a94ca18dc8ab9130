import type { CommandContext } from '../context';
import { json } from '../output';
import { isoTime } from '../../domain';

/** `tenant create <tenant>`: a tenant and its first key. */
export async function tenantCreateCommand(ctx: CommandContext, tenant: string): Promise<number> {
  // Creates the store when there is none: with keys from the environment (a container),
  // there is no `init` to run, since init writes a keyring.
  const result = await ctx.withVault((v) => v.createTenant(tenant), { create: true });
  if (ctx.config.json) json(ctx.io, result);
  else ctx.io.out(`created tenant ${result.tenant} (key version ${result.keyVersion})`);
  return 0;
}

/** `tenant list`. */
export async function tenantListCommand(ctx: CommandContext): Promise<number> {
  const tenants = await ctx.withVault((v) => v.tenants());
  if (ctx.config.json) json(ctx.io, tenants.map((t) => ({ tenant: t.tenant, createdAt: isoTime(t.createdAt) })));
  else if (tenants.length === 0) ctx.io.out('no tenants');
  else for (const t of tenants) ctx.io.out(`${t.tenant}\t${isoTime(t.createdAt)}`);
  return 0;
}
