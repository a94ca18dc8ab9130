import { EXIT_CODES, categoryOf, InputError } from '../../errors';
import type { CommandContext } from '../context';
import { json } from '../output';
import { progressBar } from '../progress';

/**
 * `retention set <tenant> --archive-after DUR --retain DUR [--mode compliance] [--override-floors]`:
 * recorded in the access trail. A shorter retain applies to new sessions only, unless
 * --override-floors (governance mode, --reason required).
 */
export async function retentionSetCommand(
  ctx: CommandContext,
  tenant: string,
  flags: { archiveAfter?: string; retain?: string; mode?: string; overrideFloors?: boolean },
): Promise<number> {
  if (!flags.archiveAfter || !flags.retain) throw new InputError('INVALID_INPUT', 'retention set needs --archive-after and --retain (e.g. --archive-after 30d --retain 7y)');
  if (flags.mode !== undefined && flags.mode !== 'governance' && flags.mode !== 'compliance') throw new InputError('INVALID_INPUT', '--mode is governance or compliance');
  const policy = { archiveAfter: flags.archiveAfter, retain: flags.retain, mode: flags.mode as 'governance' | 'compliance' | undefined, overrideFloors: flags.overrideFloors === true };
  await ctx.asOperator((op) => op.setRetention(tenant, policy));
  const view = await ctx.withVault((v) => v.retention(tenant));
  if (ctx.config.json) json(ctx.io, view);
  else ctx.io.out(`${tenant}: archive after ${view.archiveAfter} idle, retain ${view.retain} after the last event (${view.mode} mode)`);
  return 0;
}

/** `retention show <tenant>`. */
export async function retentionShowCommand(ctx: CommandContext, tenant: string): Promise<number> {
  const view = await ctx.withVault((v) => v.retention(tenant));
  if (ctx.config.json) json(ctx.io, view);
  else ctx.io.out(`${tenant}: archive after ${view.archiveAfter} idle, retain ${view.retain} after the last event, ${view.mode} mode (${view.source === 'default' ? 'vault default' : `set by ${view.setBy} at ${view.setAt}`})`);
  return 0;
}

/**
 * `retention run [--tenant T] [--dry-run]`: NDJSON of each action with --json, a line each
 * otherwise, a progress bar on a terminal. Exit 0 when every action succeeded; otherwise
 * the exit code of the first failure (4 when the archive store or database is unreachable,
 * which also stops the run with that session still hot).
 */
export async function retentionRunCommand(ctx: CommandContext, flags: { tenant?: string; dryRun?: boolean }): Promise<number> {
  return ctx.asOperator(async (op, vault) => {
    const bar = progressBar(await vault.sessionCount(flags.tenant), flags.dryRun ? 'retention (dry run)' : 'retention');
    const counts = { archive: 0, purge: 0, restore: 0, 'finish-purge': 0, failed: 0 };
    let exit = 0;
    try {
      for await (const item of op.retentionRun({ tenant: flags.tenant, dryRun: flags.dryRun === true, onSession: () => bar.tick() })) {
        if (item.outcome.startsWith('failed:')) {
          counts.failed++;
          const category = categoryOf(item.outcome.slice(7));
          if (exit === 0) exit = category ? EXIT_CODES[category] : EXIT_CODES.storage;
        } else if (item.outcome !== 'skipped') counts[item.action]++;
        if (ctx.config.json) json(ctx.io, item);
        else ctx.io.out(`${item.action}\t${item.tenant}/${item.session}\t${item.outcome}${item.digest ? `\tsha256:${item.digest}` : ''}`);
      }
    } finally {
      bar.stop();
    }
    if (!ctx.config.json) {
      const verb = flags.dryRun ? 'would archive' : 'archived';
      const restored = counts.restore > 0 ? `, ${flags.dryRun ? 'would restore' : 'restored'} ${counts.restore} (held)` : '';
      ctx.io.err(`${verb} ${counts.archive}, ${flags.dryRun ? 'would purge' : 'purged'} ${counts.purge + counts['finish-purge']}${restored}, failed ${counts.failed}`);
    }
    return exit;
  });
}

/** `archive <tenant> <session>`: archive now, whatever the policy says. */
export async function archiveCommand(ctx: CommandContext, tenant: string, session: string): Promise<number> {
  const r = await ctx.asOperator((op) => op.archive(tenant, session));
  if (ctx.config.json) json(ctx.io, r);
  else if (r.outcome === 'archived') ctx.io.out(`archived ${tenant}/${session}: ${r.events} event(s), ${r.bytes} bytes, sha256:${r.digest} → ${r.object}`);
  else if (r.outcome === 'already') ctx.io.out(`${tenant}/${session} is already archived`);
  else ctx.io.out(`${tenant}/${session} changed while archiving; it stays hot (run again)`);
  return 0;
}

/** `restore <tenant> <session>`: back to hot storage. */
export async function restoreCommand(ctx: CommandContext, tenant: string, session: string): Promise<number> {
  const restored = await ctx.asOperator((op) => op.restore(tenant, session));
  if (ctx.config.json) json(ctx.io, { tenant, session, restored });
  else ctx.io.out(restored ? `restored ${tenant}/${session} to hot storage` : `${tenant}/${session} is not archived (unchanged)`);
  return 0;
}

/** `purge <tenant> <session>`: an archived session past its retention, never under hold. */
export async function purgeCommand(ctx: CommandContext, tenant: string, session: string): Promise<number> {
  const r = await ctx.asOperator((op) => op.purge(tenant, session));
  if (ctx.config.json) json(ctx.io, r);
  else ctx.io.out(`purged ${tenant}/${session} (due ${r.dueAt}): key shredded, ${r.objectsDeleted} archive object(s) deleted, tombstone kept`);
  return 0;
}
