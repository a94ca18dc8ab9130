import { z } from 'zod';
import { bytesEqual, fromHex, toHex } from '../crypto';
import { isoTime, type AccessRecord } from '../domain';
import { ACCESS_SALT_BYTES, AccessChainVerifier, accessDigests, parseTrailHead, sessionCommitment, sessionKeyCommitment, sessionTrailKey, TENANT_SECRET_BYTES, tenantCommitment, type TrailHead } from './access';
import { KEY_PERIOD_GRACE_MS, recordInPeriod, type KeyPeriods } from './key-period';

/**
 * The operator access trail as a file an auditor checks alone (`access-log --json` writes
 * it, `verify-trail` checks it): one JSON object a line, each record's fields with its
 * salt (hex; null in the v1 form), its tenant's trail secret (hex; in the v3 and v4 forms,
 * and in the v4 form `sessionKeyed`), or, in a session's listing of a v4 record of the
 * session, the session's trail key and the tenant's digest in place of the secret, its
 * chain hash (hex), the signature of the trail head at it (`keyId`, base64 `signature`;
 * null for records written before the trail was signed) and when the database stored it
 * (`storedAt`, its own clock, 0057; not signed).
 * The whole trail, from seq 1: each hash covers the record before it (audit/access.ts).
 * A listing for one tenant, or one session of a tenant (its scope), withholds every v2 or
 * v3 record outside it: in place of its fields, the digests of its tenant, its session and
 * its other fields (`withheld`), which its hash covers, so the chain is checked whole and
 * the auditor sees that no withheld record is in the scope: by the tenant's trail secret,
 * which the tenant's records shown in full carry (or the auditor pinned), for one in the
 * v3 or v4 form; for a session, by the session's trail key (v4). Pure.
 */
const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
const signed = {
  hash: hex(32),
  keyId: z.string().min(1).nullable(),
  signature: z.base64().nullable(),
  /** When the database stored it, by its own clock (not signed; null before 0057; absent in files written before it was listed). */
  storedAt: z.iso.datetime().nullable().optional(),
};
const fullLineSchema = z.strictObject({
  seq: z.number().int().positive(),
  at: z.iso.datetime(),
  actor: z.string(),
  action: z.string(),
  tenant: z.string().nullable(),
  session: z.string().nullable(),
  reason: z.string().nullable(),
  outcome: z.string(),
  /** Absent in files written before the v2 form, which hold only v1 records. */
  salt: hex(ACCESS_SALT_BYTES).nullable().optional(),
  /** Its tenant's trail secret, in the v3 and v4 forms (drizzle/0061); absent in the v1 and v2 forms, and in a session's listing of a v4 record. */
  tenantSecret: hex(TENANT_SECRET_BYTES).optional(),
  /** True in the v4 form (drizzle/0062): its session's digest is keyed by the session's trail key, derived from the tenant's secret. */
  sessionKeyed: z.literal(true).optional(),
  /** In a session's listing, a v4 record of the session: the session's trail key, and the tenant's digest (hex), in place of the tenant's secret. */
  sessionKey: hex(TENANT_SECRET_BYTES).optional(),
  tenantDigest: hex(32).optional(),
  ...signed,
}).superRefine((l, ctx) => {
  // The combinations a listing writes (trailLine), so that every line read has one hash to check.
  const keyed = l.tenantSecret !== undefined || l.sessionKey !== undefined;
  const wrong =
    keyed && (l.tenant === null || !l.salt) ? "a record keyed by a tenant's trail secret has a tenant and a salt"
    : l.sessionKeyed && l.tenantSecret === undefined ? "sessionKeyed: a record in the v4 form has its tenant's trail secret"
    : (l.sessionKey === undefined) !== (l.tenantDigest === undefined) ? "a session's trail key and its tenant's digest come together"
    : l.sessionKey !== undefined && (l.tenantSecret !== undefined || l.sessionKeyed) ? "a session's trail key comes in place of the tenant's secret, not with it"
    : null;
  if (wrong) ctx.addIssue({ code: 'custom', message: wrong });
});
const withheldLineSchema = z.strictObject({
  seq: z.number().int().positive(),
  at: z.iso.datetime(),
  withheld: z.strictObject({ tenant: hex(32), session: hex(32), fields: hex(32) }),
  ...signed,
});
export const trailLineSchema = z.union([fullLineSchema, withheldLineSchema]);
export type TrailLine = z.infer<typeof trailLineSchema>;

type StoredRecord = AccessRecord & { salt: Uint8Array | null; tenantSecret?: Uint8Array | null; sessionKeyed?: boolean; hash: Uint8Array; keyId: string | null; signature: Uint8Array | null; storedAt: Date | null };

/**
 * What a listing shows in full: one tenant's records and the vault's own (those with no
 * tenant: a master key's rotation, a signing key's retirement, which concern every
 * tenant), or one session's records of a tenant.
 */
export interface TrailScope {
  tenant: string;
  session?: string;
}

const inScope = (r: { tenant: string | null; session: string | null }, scope: TrailScope) =>
  scope.session === undefined ? r.tenant === scope.tenant || r.tenant === null : r.tenant === scope.tenant && r.session === scope.session;

/**
 * A stored record as a line of the trail file: in full, or, in a listing for `scope`,
 * withheld when it is outside the scope (another tenant's, or, for a session, any other
 * record) and in the v2 form. A v1 record cannot be withheld and still checked, so it is
 * shown in full. A session's listing shows a v4 record of the session with the session's
 * trail key and its tenant's digest, not the tenant's secret (which would let its holder
 * try the tenant's other session ids against the records withheld).
 */
export function trailLine(r: StoredRecord, scope?: TrailScope): TrailLine {
  const stored = {
    hash: toHex(r.hash),
    keyId: r.keyId,
    signature: r.signature === null ? null : Buffer.from(r.signature).toString('base64'),
    storedAt: r.storedAt === null ? null : isoTime(r.storedAt),
  };
  // A record at a seq past 2^53 (stored past the database's check, drizzle/0064) has no digests to withhold it as: shown, as a v1 record is.
  if (scope !== undefined && r.salt !== null && !inScope(r, scope) && Number.isSafeInteger(r.seq)) {
    const d = accessDigests({ ...r, salt: r.salt, tenantSecret: r.tenantSecret ?? null, sessionKeyed: r.sessionKeyed ?? false });
    return { seq: r.seq, at: isoTime(r.at), withheld: { tenant: toHex(d.tenant), session: toHex(d.session), fields: toHex(d.fields) }, ...stored };
  }
  const keys = trailKeysShown(r, scope);
  return {
    seq: r.seq,
    at: isoTime(r.at),
    actor: r.actor,
    action: r.action,
    tenant: r.tenant,
    session: r.session,
    reason: r.reason,
    outcome: r.outcome,
    salt: r.salt === null ? null : toHex(r.salt),
    ...keys,
    ...stored,
  };
}

/** The trail keys a line shows in full: the tenant's secret (v3, v4), or, in a session's listing of a v4 record, the session's key and the tenant's digest. */
function trailKeysShown(r: StoredRecord, scope?: TrailScope): { tenantSecret?: string; sessionKeyed?: true; sessionKey?: string; tenantDigest?: string } {
  if (!r.tenantSecret || r.tenant === null) return {};
  if (!r.sessionKeyed) return { tenantSecret: toHex(r.tenantSecret) };
  if (scope?.session === undefined) return { tenantSecret: toHex(r.tenantSecret), sessionKeyed: true };
  return { sessionKey: toHex(sessionTrailKey(r.tenantSecret, r.tenant, r.session)), tenantDigest: toHex(tenantCommitment(r.seq, r.tenant, r.tenantSecret)) };
}

export interface TrailProblem {
  kind: string;
  seq?: number;
  line?: number;
  detail: string;
}

export interface TrailReport {
  ok: boolean;
  records: number;
  lastSeq: number;
  /** The witnessed head the trail was checked against (its seq), or null when none was given. */
  witnessedSeq: number | null;
  /** The head the listing was checked from (its seq): 0 for a listing from seq 1. */
  fromSeq: number;
  /** The time a listing since a time was checked as starting no later than (ISO), or null. */
  since: string | null;
  /** The scope whose listing this was checked as, or null for the whole trail. */
  scope: TrailScope | null;
  /** Records shown in full that are in the scope (all of them, checking the whole trail). */
  shown: number;
  /** Records withheld (shown as digests): none, checking the whole trail. */
  withheld: number;
  /**
   * The scope's tenant's trail secret (hex) the withheld records were told apart by: the
   * one given (TrailCheck.tenantSecret), or else the one the tenant's records shown carry;
   * null when neither. An auditor keeps it for the next listing, which may show none.
   */
  tenantSecret: string | null;
  /**
   * For a session's listing, the session's trail key (hex) its withheld records in the v4
   * form were told apart by: the one given (TrailCheck.sessionKey), or derived from the
   * tenant's secret, or else the one the session's records shown carry; null when none.
   * Kept as the tenant's secret is.
   */
  sessionKey: string | null;
  problems: TrailProblem[];
}

/** What a trail file is checked against, besides the keys: each given by the auditor, none taken from the file. */
export interface TrailCheck {
  /** The witness's trail head now (`access-trail.checkpoint`): the listing must reach it. */
  witnessHead?: string | null;
  /** A trail head checked before (the witness's head at the auditor's last check): the listing starts after it, not at seq 1. */
  fromHead?: string | null;
  /** The listing's scope: a tenant, or a session of one; none for the whole trail. */
  scope?: TrailScope | null;
  /**
   * A listing since this time (`access-log --json --since`, without `fromHead`): unless it
   * starts at seq 1, its first record is where it starts (SINCE_MARGIN_MS), its signed head
   * the one the rest must chain onto.
   */
  since?: Date | null;
  /**
   * The scope's tenant's trail secret, kept from an earlier check (TrailReport.tenantSecret):
   * a withheld record keyed by it is the tenant's own, and a record of the tenant shown with
   * another is refused. Without it, the one the tenant's records shown carry, up to the
   * witnessed head where one is given.
   */
  tenantSecret?: Uint8Array | null;
  /**
   * For a session's listing, the session's trail key, kept from an earlier check
   * (TrailReport.sessionKey): a withheld record keyed by it is the session's own, and a
   * record of the session shown with another is refused. Without it, the one derived from
   * the tenant's secret, or the one the session's records shown carry, up to the witnessed
   * head where one is given.
   */
  sessionKey?: Uint8Array | null;
}

/**
 * How long before `since` a listing since a time starts: its first record is the last one
 * dated that much earlier, so that a record dated up to the hosts' skew (the key periods'
 * grace) before a later one is in it too.
 */
export const SINCE_MARGIN_MS = KEY_PERIOD_GRACE_MS;

/**
 * Checks a trail file (its lines, parsed as JSON: a line that is not is `undefined`)
 * against the auditor's own copy of the vault's keys and their periods: every record in
 * seq order from 1 (or from the head checked before, or, for a listing since a time, from
 * its first record: sinceStart), its hash recomputed (a withheld
 * record's from its digests), a trusted key's signature on the head at it, in that key's
 * period by its signed time and by the time the listing says the database stored it
 * (AccessChainVerifier, as `verify` does on the database; that time is not signed, so it
 * binds an honest listing, not its lister). With the witness's trail head (`access-trail.checkpoint`, fetched from the
 * witness by the auditor), records cut from the end or a rewritten history show too.
 * Checked as a scope's listing, no withheld record may be in the scope
 * (`own_record_withheld`: its tenant's digest is the tenant's or no tenant's, or for a
 * session its session's digest is the session's); checked whole, none may be withheld
 * (`record_withheld`).
 */
export function verifyTrail(lines: readonly unknown[], trusted: { keys: ReadonlyMap<string, Uint8Array>; periods?: KeyPeriods }, check: TrailCheck = {}): TrailReport {
  const problems: TrailProblem[] = [];
  const scope = check.scope ?? null;
  const head = (note: string | null | undefined, kind: string, what: string) => {
    if (note === null || note === undefined) return null;
    const parsed = parseTrailHead(note);
    if (!parsed) problems.push({ kind, detail: `the ${what} is not a signed access-trail note` });
    return parsed;
  };
  const witnessed = head(check.witnessHead, 'malformed_witness_head', 'witness head');
  let from = head(check.fromHead, 'malformed_from_head', 'head checked before');
  const since = from === null && check.fromHead == null ? (check.since ?? null) : null;
  let rest = lines;
  if (since !== null) {
    const start = sinceStart(lines[0], since, trusted.periods ?? new Map(), problems);
    if (start) [from, rest] = [start, lines.slice(1)];
  }
  const chain = new AccessChainVerifier(trusted.keys, witnessed, trusted.periods ?? new Map(), from);
  const name = scope === null ? '' : scope.session === undefined ? `tenant ${scope.tenant}'s` : `session ${scope.tenant}/${scope.session}'s`;
  let [lastSeq, shown, withheld] = [0, 0, 0];
  const pinned = check.tenantSecret ?? null;
  let secret = pinned;
  // A session's listing: the session's trail key each of its v4 records shown carries, and the first one the witness saw.
  const keysShown: { seq: number; key: Uint8Array }[] = [];
  let learnedKey: Uint8Array | null = null;
  // Told apart from the scope once the whole listing is read: the tenant's secret may come from a record after them.
  const held: { seq: number; digests: { tenant: Uint8Array; session: Uint8Array } }[] = [];
  const offset = lines.length - rest.length;
  rest.forEach((value, j) => {
    const i = j + offset;
    const parsed = trailLineSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      problems.push({ kind: 'malformed_record', line: i + 1, detail: `line ${i + 1}: ${value === undefined ? 'not JSON' : `${issue.path.join('.') || '(root)'}: ${issue.message}`}` });
      return;
    }
    const l = parsed.data;
    lastSeq = l.seq;
    const stored = {
      hash: fromHex(l.hash),
      keyId: l.keyId,
      signature: l.signature === null ? null : new Uint8Array(Buffer.from(l.signature, 'base64')),
      storedAt: l.storedAt ? new Date(l.storedAt) : null,
    };
    // A record in the v2 form was stored after 0057, so the database stamped it: a line without its time would pass a retired key's record stored after its period.
    if (l.storedAt == null && ('withheld' in l || l.salt)) problems.push({ kind: 'malformed_record', seq: l.seq, line: i + 1, detail: `line ${i + 1}: storedAt: the database stamps every record in the v2 form` });
    if ('withheld' in l) {
      withheld++;
      const digests = { tenant: fromHex(l.withheld.tenant), session: fromHex(l.withheld.session), fields: fromHex(l.withheld.fields) };
      chain.push({ seq: l.seq, at: new Date(l.at), withheld: digests, ...stored });
      if (scope === null) problems.push({ kind: 'record_withheld', seq: l.seq, detail: `record ${l.seq}: withheld, in a check of the whole trail (a tenant's listing is checked with --tenant)` });
      else held.push({ seq: l.seq, digests });
      return;
    }
    if (scope === null || inScope(l, scope)) shown++;
    if (scope !== null && l.tenant === scope.tenant && l.tenantSecret !== undefined) {
      const own = fromHex(l.tenantSecret);
      if (pinned && !bytesEqual(own, pinned)) problems.push({ kind: 'tenant_secret_mismatch', seq: l.seq, detail: `record ${l.seq}: tenant ${scope.tenant}'s, keyed by another trail secret than the one given: the listing's withheld records cannot be told apart from the tenant's by it` });
      // Learned only from a record the witness saw: one past its head, whoever holds the signing key could have made up, with a secret of their own.
      if (witnessed === null || l.seq <= witnessed.seq) secret ??= own;
    }
    if (scope?.session !== undefined && inScope(l, scope) && l.sessionKey !== undefined) {
      const key = fromHex(l.sessionKey);
      keysShown.push({ seq: l.seq, key });
      if (witnessed === null || l.seq <= witnessed.seq) learnedKey ??= key;
    }
    chain.push({
      seq: l.seq,
      at: new Date(l.at),
      actor: l.actor,
      action: l.action,
      tenant: l.tenant,
      session: l.session,
      reason: l.reason,
      outcome: l.outcome,
      salt: l.salt ? fromHex(l.salt) : null,
      tenantSecret: l.tenantSecret === undefined ? null : fromHex(l.tenantSecret),
      sessionKeyed: l.sessionKeyed === true,
      sessionKey: l.sessionKey === undefined ? null : fromHex(l.sessionKey),
      tenantDigest: l.tenantDigest === undefined ? null : fromHex(l.tenantDigest),
      ...stored,
    });
  });
  const sessionKey = scope?.session === undefined ? null : (check.sessionKey ?? (secret ? sessionTrailKey(secret, scope.tenant, scope.session) : learnedKey));
  if (scope?.session !== undefined && check.sessionKey && secret && !bytesEqual(check.sessionKey, sessionTrailKey(secret, scope.tenant, scope.session))) {
    problems.push({ kind: 'session_key_mismatch', detail: `the session's trail key given is not the one tenant ${scope.tenant}'s trail secret gives for session ${scope.session}` });
  }
  for (const k of keysShown) {
    if (sessionKey && !bytesEqual(k.key, sessionKey)) problems.push({ kind: 'session_key_mismatch', seq: k.seq, detail: `record ${k.seq}: ${name}, keyed by another trail key than the session's: the listing's withheld records cannot be told apart from the session's by it` });
  }
  if (scope !== null) {
    for (const w of held) if (withheldInScope(w.seq, w.digests, scope, secret, sessionKey)) problems.push({ kind: 'own_record_withheld', seq: w.seq, detail: `record ${w.seq}: withheld, but it is ${name}${scope.session === undefined ? " or the vault's own" : ''}` });
    if (held.length > 0 && secret === null && sessionKey === null) {
      const detail =
        scope.session === undefined
          ? `no record of tenant ${scope.tenant} shown carries its trail secret, nor was one given (--tenant-secret): a withheld record of the tenant's in the v3 or v4 form cannot be told from another tenant's`
          : `no record of the session shown carries its trail key, nor was it or the tenant's trail secret given (--session-key, --tenant-secret): a withheld record of the session's in the v3 or v4 form cannot be told from another's`;
      problems.push({ kind: 'tenant_secret_unknown', detail: `${held.length} record(s) withheld, and ${detail}` });
    }
  }
  for (const p of chain.finish()) problems.push({ kind: p.kind, seq: p.seq, detail: `record ${p.seq}: ${p.kind.replace(/_/g, ' ')}` });
  if (lines.length === 0 && from === null) problems.push({ kind: 'empty_trail', detail: 'the file holds no record' });
  return { ok: problems.length === 0, records: chain.count, lastSeq, witnessedSeq: witnessed?.seq ?? null, fromSeq: from?.seq ?? 0, since: since?.toISOString() ?? null, scope, shown, withheld, tenantSecret: secret === null ? null : toHex(secret), sessionKey: sessionKey === null ? null : toHex(sessionKey), problems };
}

/**
 * Where a listing since a time starts: its first line, unless that is seq 1 (a listing
 * from the start). That record's signed head is the one the listing chains onto, so its
 * hash is pinned by the next record's signed hash and its time by its own signature: it
 * must be signed by a trusted key in its period and dated at least SINCE_MARGIN_MS before
 * `since`, or a lister could start later and leave out records since then unseen.
 */
function sinceStart(value: unknown, since: Date, periods: KeyPeriods, problems: TrailProblem[]): (TrailHead & { keyId: string; signature: Uint8Array }) | null {
  const parsed = trailLineSchema.safeParse(value);
  if (!parsed.success || parsed.data.seq === 1) return null;
  const l = parsed.data;
  const at = new Date(l.at);
  if (l.keyId === null || l.signature === null) {
    problems.push({ kind: 'since_start_unsigned', seq: l.seq, detail: `record ${l.seq}: the record a listing since a time starts from is not signed, so what comes before the records since then cannot be told` });
    return null;
  }
  if (at.getTime() > since.getTime() - SINCE_MARGIN_MS) {
    problems.push({ kind: 'since_start_late', seq: l.seq, detail: `record ${l.seq}: dated ${l.at}, later than ${SINCE_MARGIN_MS / 60_000} minutes before ${since.toISOString()}: records since then may be left out before it` });
  }
  if (!recordInPeriod(l.keyId, at, periods, false, l.storedAt ? new Date(l.storedAt) : null)) problems.push({ kind: 'access_outside_key_period', seq: l.seq, detail: `record ${l.seq}: access outside key period` });
  return { seq: l.seq, hash: fromHex(l.hash), at, keyId: l.keyId, signature: new Uint8Array(Buffer.from(l.signature, 'base64')) };
}

/**
 * Whether a withheld record's digests say it is in the scope: its tenant's (in the v2
 * form, or in the v3 and v4 forms keyed by the tenant's secret) or the vault's own, for a
 * tenant; its session's (within the tenant: v2, v3 by the tenant's secret, v4 by the
 * session's trail key), for a session.
 */
function withheldInScope(seq: number, d: { tenant: Uint8Array; session: Uint8Array }, scope: TrailScope, secret: Uint8Array | null, sessionKey: Uint8Array | null): boolean {
  if (scope.session === undefined) {
    const own = [tenantCommitment(seq, scope.tenant), tenantCommitment(seq, null), ...(secret ? [tenantCommitment(seq, scope.tenant, secret)] : [])];
    return own.some((c) => bytesEqual(d.tenant, c));
  }
  const own = [
    sessionCommitment(seq, scope.tenant, scope.session),
    ...(secret ? [sessionCommitment(seq, scope.tenant, scope.session, secret)] : []),
    ...(sessionKey ? [sessionKeyCommitment(seq, scope.tenant, scope.session, sessionKey)] : []),
  ];
  return own.some((c) => bytesEqual(d.session, c));
}
