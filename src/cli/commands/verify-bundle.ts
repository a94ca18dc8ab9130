import { ensureSodium } from '../../crypto';
import { verifyBundle } from '../../audit';
import type { CommandContext } from '../context';
import { readInputFile } from '../input';
import { json } from '../output';

/**
 * `verify-bundle FILE [--trusted-key ID]…`: offline, with neither database nor keyring.
 * Exit 1 on any problem.
 */
export async function verifyBundleCommand(ctx: CommandContext, file: string, flags: { trustedKey?: string[] }): Promise<number> {
  await ensureSodium();
  const text = await readInputFile(file);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  const report =
    doc === undefined
      ? { ok: false, tenant: null, session: null, events: 0, checkpoints: 0, signedBy: [], decrypted: false, problems: [{ kind: 'malformed_bundle', detail: 'not valid JSON' }] }
      : await verifyBundle(doc, flags.trustedKey);
  if (ctx.config.json) json(ctx.io, report);
  else {
    ctx.io.out(`${report.ok ? 'OK' : 'BUNDLE REJECTED'}: ${report.tenant ?? '?'}/${report.session ?? '?'}, ${report.events} event(s), ${report.checkpoints} checkpoint(s)${report.decrypted ? ', plaintext checked against the sealed events' : ''}`);
    if (report.signedBy.length) ctx.io.out(`signed by: ${report.signedBy.join(', ')} (compare with the key ids you obtained from the vault's operators)`);
    for (const p of report.problems) ctx.io.out(`  ${p.kind}${p.seq !== undefined ? ` (seq ${p.seq})` : ''}: ${p.detail}`);
  }
  return report.ok ? 0 : 1;
}
