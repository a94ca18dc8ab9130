import { ensureSodium } from '../../crypto';
import { parseTrustedKeys, verifyBundle } from '../../audit';
import { InputError } from '../../errors';
import type { CommandContext } from '../context';
import { readInputFile, timeFlag } from '../input';
import { json } from '../output';

/**
 * `verify-bundle FILE [--trusted-key ID]… | [--trusted-keys KEYS.json [--received ISO]]`:
 * offline, with neither database nor keyring. Exit 1 on any problem; 2 for flags or a
 * keys file that are not right, before the bundle is read.
 */
export async function verifyBundleCommand(ctx: CommandContext, file: string, flags: { trustedKey?: string[]; trustedKeys?: string; received?: string }): Promise<number> {
  await ensureSodium();
  if (flags.trustedKey && flags.trustedKeys !== undefined) throw new InputError('INVALID_INPUT', 'give --trusted-key or --trusted-keys, not both');
  if (flags.received !== undefined && flags.trustedKeys === undefined) throw new InputError('INVALID_INPUT', '--received goes with --trusted-keys, whose key periods it is checked against');
  const receivedAt = timeFlag(flags.received, '--received');
  // The whole keys, checked before the bundle is read: a keys file that is not one trusts nothing.
  const trusted = flags.trustedKeys !== undefined ? { ...parseTrustedKeys(await readInputFile(flags.trustedKeys), flags.trustedKeys), ...(receivedAt ? { receivedAt } : {}) } : flags.trustedKey;
  const text = await readInputFile(file);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  const report =
    doc === undefined
      ? { ok: false, tenant: null, session: null, events: 0, checkpoints: 0, signedBy: [], periodsChecked: false, decrypted: false, problems: [{ kind: 'malformed_bundle', detail: 'not valid JSON' }] }
      : await verifyBundle(doc, trusted);
  if (ctx.config.json) json(ctx.io, report);
  else {
    ctx.io.out(`${report.ok ? 'OK' : 'BUNDLE REJECTED'}: ${report.tenant ?? '?'}/${report.session ?? '?'}, ${report.events} event(s), ${report.checkpoints} checkpoint(s)${report.decrypted ? ', plaintext checked against the sealed events' : ''}`);
    if (report.signedBy.length) ctx.io.out(`signed by: ${report.signedBy.join(', ')}${trusted ? '' : ' (compare with the key ids you obtained from the vault\'s operators)'}`);
    if (report.signedBy.length && !report.periodsChecked) ctx.io.out("key periods: not checked (pin the vault's keys file, which states them, with --trusted-keys: a retired key's signature counts here whenever it was made)");
    for (const p of report.problems) ctx.io.out(`  ${p.kind}${p.seq !== undefined ? ` (seq ${p.seq})` : ''}: ${p.detail}`);
  }
  return report.ok ? 0 : 1;
}
