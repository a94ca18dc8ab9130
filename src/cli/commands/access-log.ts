import { ensureSodium, fromHex } from '../../crypto';
import { SINCE_MARGIN_MS, TENANT_SECRET_BYTES, parseTrustedKeys, trailLine, verifyTrail, type TrailScope } from '../../audit';
import { sessionId, tenantId } from '../../domain';
import { InputError } from '../../errors';
import type { CommandContext } from '../context';
import { intFlag, readInputFile, timeFlag } from '../input';
import { json, printable } from '../output';

/**
 * `access-log [--tenant T [--session S]] [--since ISO] [--after-seq N]`: the operator
 * access trail. With --json and no --since, the file an auditor checks alone with
 * `verify-trail` (audit/trail-file.ts): the whole trail, each record with its chain hash
 * and signature, or, with --after-seq, the records after the head the auditor checked
 * last; with --tenant (and --session), every record outside that tenant (or session)
 * withheld, its digests in place of its fields; with --since, from the last record dated
 * 5 minutes before that time (Vault.trailFile), which `verify-trail --since` checks. A
 * session's listing with records that carry the tenant's trail secret (v3, before 0062)
 * says so on stderr. The text listing: the records (of the tenant, and the vault's own)
 * since, or after.
 */
export async function accessLogCommand(ctx: CommandContext, flags: { tenant?: string; session?: string; since?: string; afterSeq?: string }): Promise<number> {
  const since = timeFlag(flags.since, '--since');
  const afterSeq = intFlag(flags.afterSeq, '--after-seq', 0);
  const scope = scopeFlags(flags);
  if (since !== undefined && flags.afterSeq !== undefined) throw new InputError('INVALID_INPUT', 'a listing starts after a seq (--after-seq) or since a time (--since), not both');
  await ctx.withVault(async (v) => {
    if (ctx.config.json) {
      let secretShown = 0;
      for await (const line of v.trailFile(scope, since === undefined ? { afterSeq } : { since })) {
        if ('tenantSecret' in line && line.tenantSecret !== undefined) secretShown++;
        json(ctx.io, line);
      }
      // A session's listing is for whom the session's key may go; its records from before 0062 (v3) carry the tenant's secret.
      if (scope?.session !== undefined && secretShown > 0) {
        ctx.io.err(printable(`warning: ${secretShown} record(s) of session ${scope.tenant}/${scope.session} predate migration 0062 and carry tenant ${scope.tenant}'s trail secret, by which its holder can try the tenant's other session ids: hand this listing only to whom the tenant's own listing may go`));
      }
      return;
    }
    // A tenant's records and the vault's own, as the tenant's checkable listing shows them.
    for await (const r of v.accessLog({ tenant: flags.tenant, withVault: true, since, afterSeq })) {
      if (scope?.session !== undefined && r.session !== scope.session) continue;
      const record = trailLine(r);
      if (ctx.config.json) json(ctx.io, record);
      else ctx.io.out(printable(`${String(r.seq).padStart(6)}  ${record.at}  ${r.actor}  ${r.action}  ${r.tenant ?? '-'}/${r.session ?? '-'}  ${r.outcome}${r.reason ? `  "${r.reason}"` : ''}`));
    }
  });
  return 0;
}

/** --tenant and --session as a listing's scope; a session names its tenant. */
function scopeFlags(flags: { tenant?: string; session?: string }): TrailScope | undefined {
  if (flags.session !== undefined && flags.tenant === undefined) throw new InputError('INVALID_INPUT', '--session needs --tenant: a session is one of a tenant\'s');
  if (flags.tenant === undefined) return undefined;
  return { tenant: tenantId(flags.tenant), ...(flags.session === undefined ? {} : { session: sessionId(flags.session) }) };
}

/**
 * `verify-trail FILE --trusted-keys KEYS [--witness-head NOTE] [--from-head NOTE] [--tenant T
 * [--session S]]`: offline, with neither database nor keyring, the access trail
 * `access-log --json` wrote, against the vault's keys pinned whole and, given the
 * witness's trail head, its end; with --from-head (the witness's head at the last check,
 * kept by the auditor), the records after it (`access-log --json --after-seq`); with
 * --tenant (and --session), the listing for that tenant (or session), none of whose
 * records may be withheld, told by the tenant's trail secret (--tenant-secret, a file
 * holding the hex `--json` reported as `tenantSecret` at an earlier check; else the one
 * the tenant's records shown carry), or, for a session, by the session's trail key
 * (--session-key, kept as `sessionKey`; else the one the session's records shown carry).
 * Exit 1 on any problem, 2 for flags or a keys file that are not right.
 */
export async function verifyTrailCommand(ctx: CommandContext, file: string, flags: { trustedKeys?: string; witnessHead?: string; fromHead?: string; tenant?: string; session?: string; since?: string; tenantSecret?: string; sessionKey?: string }): Promise<number> {
  await ensureSodium();
  const since = timeFlag(flags.since, '--since') ?? null;
  if (since !== null && flags.fromHead !== undefined) throw new InputError('INVALID_INPUT', 'a listing is checked from a head checked before (--from-head) or since a time (--since), not both');
  if (flags.trustedKeys === undefined) throw new InputError('INVALID_INPUT', 'verify-trail needs --trusted-keys: the vault\'s public keys, obtained out of band (the witness\'s public-keys.json)');
  const scope = scopeFlags(flags) ?? null;
  const trusted = parseTrustedKeys(await readInputFile(flags.trustedKeys), flags.trustedKeys);
  const head = flags.witnessHead === undefined ? null : await readInputFile(flags.witnessHead);
  const fromHead = flags.fromHead === undefined ? null : await readInputFile(flags.fromHead);
  if (flags.tenantSecret !== undefined && scope === null) throw new InputError('INVALID_INPUT', "--tenant-secret is a tenant's: give it with --tenant");
  const tenantSecret = flags.tenantSecret === undefined ? null : secretFile(await readInputFile(flags.tenantSecret), flags.tenantSecret, "a tenant's trail secret", 'tenantSecret');
  if (flags.sessionKey !== undefined && scope?.session === undefined) throw new InputError('INVALID_INPUT', "--session-key is a session's: give it with --tenant and --session");
  const sessionKey = flags.sessionKey === undefined ? null : secretFile(await readInputFile(flags.sessionKey), flags.sessionKey, "a session's trail key", 'sessionKey');
  const lines = (await readInputFile(file))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as unknown;
      } catch {
        return undefined;
      }
    });
  const report = verifyTrail(lines, trusted, { witnessHead: head, fromHead, scope, since, tenantSecret, sessionKey });
  if (ctx.config.json) json(ctx.io, report);
  else {
    const name = scope === null ? null : scope.session === undefined ? `tenant ${scope.tenant}` : `session ${scope.tenant}/${scope.session}`;
    const after = report.since === null ? 'the head checked before' : `the last record ${SINCE_MARGIN_MS / 60_000} minutes before ${report.since}`;
    const span = report.fromSeq === 0 ? `${report.records} record(s) to seq ${report.lastSeq}` : `${report.records} record(s) after ${after} at seq ${report.fromSeq}${report.records === 0 ? '' : `, to seq ${report.lastSeq}`}`;
    ctx.io.out(printable(`${report.ok ? 'OK' : 'TRAIL REJECTED'}: access trail${name === null ? '' : ` for ${name}`}, ${span}${report.witnessedSeq === null ? '' : `, checked against the witnessed head at seq ${report.witnessedSeq}`}`));
    if (scope !== null) {
      const of = scope.session === undefined ? `of tenant ${scope.tenant} or the whole vault` : `of session ${scope.tenant}/${scope.session}`;
      const unknown = report.tenantSecret === null && report.sessionKey === null;
      const told = report.withheld > 0 && unknown ? `which cannot be told from that scope's without ${scope.session === undefined ? "the tenant's trail secret" : "the session's trail key"}` : 'none of them in that scope';
      ctx.io.out(printable(`  ${report.shown} record(s) shown, ${of}; ${report.withheld} withheld, ${told}`));
    }
    if (report.witnessedSeq === null) ctx.io.out('end: not checked (pass the witness\'s access-trail.checkpoint with --witness-head: records cut from the end would not show)');
    for (const p of report.problems) ctx.io.out(printable(`  ${p.kind}${p.seq !== undefined ? ` (seq ${p.seq})` : ''}: ${p.detail}`));
  }
  return report.ok ? 0 : 1;
}

/** A tenant's trail secret, or a session's trail key, as kept in a file: its hex (TENANT_SECRET_BYTES bytes), and nothing else but white space. */
function secretFile(text: string, file: string, what: string, field: string): Uint8Array {
  const hex = text.trim();
  if (!new RegExp(`^[0-9a-f]{${TENANT_SECRET_BYTES * 2}}$`).test(hex)) throw new InputError('INVALID_INPUT', `${file}: not ${what} (${TENANT_SECRET_BYTES * 2} lower-case hex digits, as verify-trail --json reports it: ${field})`);
  return fromHex(hex);
}
