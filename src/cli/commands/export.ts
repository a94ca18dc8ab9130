import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError } from '../../errors';
import { bundleText } from '../../audit';
import type { CommandContext } from '../context';
import { intFlag, timeFlag } from '../input';
import { json } from '../output';
import { progressBar } from '../progress';

export interface ExportFlags {
  out?: string;
  tenant?: string;
  all?: boolean;
  since?: string;
  until?: string;
  decrypt?: boolean;
  force?: boolean;
  atSeq?: string[];
  at?: string[];
}

/**
 * `export <tenant> <session> --out FILE [--decrypt] [--at-seq N]… [--at ISO]… [--force]`:
 * the auditor bundle, written with mode 0600. An existing file is kept unless --force.
 * `export --tenant T --all --out DIR [--since ISO] [--until ISO]`: one bundle a session
 * (whose last event falls in the range), `DIR/<session>.bundle.json`, with a progress bar.
 */
export async function exportCommand(ctx: CommandContext, tenant: string | undefined, session: string | undefined, flags: ExportFlags): Promise<number> {
  if (!flags.out) throw new InputError('INVALID_INPUT', 'export needs --out');
  if (flags.all) {
    if (tenant !== undefined || session !== undefined || !flags.tenant) throw new InputError('INVALID_INPUT', 'use either `export <tenant> <session>` or `export --tenant T --all`');
    return exportAll(ctx, flags.tenant, flags);
  }
  if (tenant === undefined || session === undefined) throw new InputError('INVALID_INPUT', 'export needs <tenant> <session>, or --tenant T --all');
  if (flags.since !== undefined || flags.until !== undefined) throw new InputError('INVALID_INPUT', '--since and --until go with --all');
  const points = [
    ...(flags.atSeq ?? []).map((v) => ({ atSeq: intFlag(v, '--at-seq', 0)! })),
    ...(flags.at ?? []).map((v) => ({ at: timeFlag(v, '--at')! })),
  ];
  if (points.length > 0 && !flags.decrypt) throw new InputError('INVALID_INPUT', '--at-seq and --at add replayed states, which need --decrypt');
  const out = path.resolve(flags.out);
  if (!flags.force && (await exists(out))) throw new InputError('INVALID_INPUT', `${out} exists; pass --force to replace it`);
  const bundle = await ctx.asOperator((op) => op.export(tenant, session, { decrypt: flags.decrypt === true, points }));
  await writeBundle(out, bundleText(bundle), flags.force === true);
  const m = bundle.manifest;
  if (ctx.config.json) json(ctx.io, { file: out, tenant: m.tenant, session: m.session, events: m.events, checkpoints: m.checkpoints, head: m.head, decrypted: m.decrypted });
  else ctx.io.out(`exported ${m.tenant}/${m.session}: ${m.events} event(s), ${m.checkpoints} checkpoint(s)${m.decrypted ? ', with plaintext' : ''} → ${out} (mode 0600)`);
  return warnProblems(ctx, m);
}

/** A session that fails verify is still exported (an auditor may need exactly that one), marked, with a warning and exit 1. */
function warnProblems(ctx: CommandContext, m: { tenant: string; session: string; sourceProblems?: { seq: number; kind: string }[] }): number {
  const problems = m.sourceProblems ?? [];
  if (problems.length === 0) return 0;
  const kinds = [...new Set(problems.map((p) => p.kind))].join(', ');
  ctx.io.err(`warning: ${m.tenant}/${m.session} fails verification (${kinds}); the bundle is marked with it (manifest.sourceProblems)`);
  return 1;
}

async function exportAll(ctx: CommandContext, tenant: string, flags: ExportFlags): Promise<number> {
  const since = timeFlag(flags.since, '--since');
  const until = timeFlag(flags.until, '--until');
  if (flags.atSeq?.length || flags.at?.length) throw new InputError('INVALID_INPUT', '--at-seq and --at go with a single-session export');
  const dir = path.resolve(flags.out!);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  let damaged = 0;
  const written = await ctx.asOperator(async (op, vault) => {
    const sessions = (await vault.sessions(tenant)).filter((s) => {
      const last = s.lastAt ? new Date(s.lastAt) : null;
      return last !== null && (!since || last >= since) && (!until || last <= until);
    });
    const progress = progressBar(sessions.length, `exporting ${tenant}`);
    const files: { session: string; file: string; events: number }[] = [];
    try {
      for (const s of sessions) {
        const file = path.join(dir, `${s.session}.bundle.json`);
        if (!flags.force && (await exists(file))) throw new InputError('INVALID_INPUT', `${file} exists; pass --force to replace it`);
        const bundle = await op.export(tenant, s.session, { decrypt: flags.decrypt === true });
        await writeBundle(file, bundleText(bundle), flags.force === true);
        files.push({ session: s.session, file, events: bundle.manifest.events });
        if (warnProblems(ctx, bundle.manifest) !== 0) damaged++;
        progress.tick(s.session);
      }
    } finally {
      progress.stop();
    }
    return files;
  });
  if (ctx.config.json) json(ctx.io, { tenant, directory: dir, sessions: written });
  else ctx.io.out(`exported ${written.length} session(s) of ${tenant} → ${dir} (mode 0600 each)`);
  return damaged > 0 ? 1 : 0;
}

async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    () => false,
  );
}

/** Writes the text, piece by piece, to a temp file (0600, fsynced) and links or renames it into place. */
async function writeBundle(file: string, text: Iterable<string>, replace: boolean): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    for (const piece of text) await handle.writeFile(piece, 'utf8'); // from the current position, all of it
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    if (replace) await fs.rename(tmp, file);
    else await fs.link(tmp, file); // fails if someone created the file meanwhile
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new InputError('INVALID_INPUT', `${file} exists; pass --force to replace it`);
    throw e;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}
