import { z } from 'zod';
import { bytesEqual, fromHex, toHex } from '../crypto';
import type { AccessRecord } from '../domain';
import { ACCESS_SALT_BYTES, AccessChainVerifier, fieldsDigest, parseTrailHead, tenantCommitment } from './access';
import type { KeyPeriods } from './key-period';

/**
 * The operator access trail as a file an auditor checks alone (`access-log --json` writes
 * it, `verify-trail` checks it): one JSON object a line, each record's fields with its
 * salt (hex; null in the v1 form), chain hash (hex) and the signature of the trail head at
 * it (`keyId`, base64 `signature`; null for records written before the trail was signed).
 * The whole trail, from seq 1: each hash covers the record before it (audit/access.ts).
 * A listing for one tenant withholds every other tenant's v2 record: in place of its
 * fields, the digests of its tenant and its fields (`withheld`), which its hash covers, so
 * the chain is checked whole and the tenant's auditor sees that no withheld record is
 * theirs. Pure.
 */
const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
const signed = {
  hash: hex(32),
  keyId: z.string().min(1).nullable(),
  signature: z.base64().nullable(),
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
  ...signed,
});
const withheldLineSchema = z.strictObject({
  seq: z.number().int().positive(),
  at: z.iso.datetime(),
  withheld: z.strictObject({ tenant: hex(32), fields: hex(32) }),
  ...signed,
});
export const trailLineSchema = z.union([fullLineSchema, withheldLineSchema]);
export type TrailLine = z.infer<typeof trailLineSchema>;

type StoredRecord = AccessRecord & { salt: Uint8Array | null; hash: Uint8Array; keyId: string | null; signature: Uint8Array | null };

/**
 * A stored record as a line of the trail file: in full, or, in a listing for `forTenant`,
 * withheld when it is another tenant's (or the vault's own, with no tenant) and in the v2
 * form. A v1 record cannot be withheld and still checked, so it is shown in full.
 */
export function trailLine(r: StoredRecord, forTenant?: string): TrailLine {
  const stored = {
    hash: toHex(r.hash),
    keyId: r.keyId,
    signature: r.signature === null ? null : Buffer.from(r.signature).toString('base64'),
  };
  if (forTenant !== undefined && r.salt !== null && r.tenant !== forTenant) {
    return { seq: r.seq, at: r.at.toISOString(), withheld: { tenant: toHex(tenantCommitment(r.seq, r.tenant)), fields: toHex(fieldsDigest(r.salt, r)) }, ...stored };
  }
  return {
    seq: r.seq,
    at: r.at.toISOString(),
    actor: r.actor,
    action: r.action,
    tenant: r.tenant,
    session: r.session,
    reason: r.reason,
    outcome: r.outcome,
    salt: r.salt === null ? null : toHex(r.salt),
    ...stored,
  };
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
  /** The tenant whose listing this was checked as, or null for the whole trail. */
  tenant: string | null;
  /** Records shown in full that are the tenant's (all of them, checking the whole trail). */
  shown: number;
  /** Records withheld (shown as digests): none, checking the whole trail. */
  withheld: number;
  problems: TrailProblem[];
}

/**
 * Checks a trail file (its lines, parsed as JSON: a line that is not is `undefined`)
 * against the auditor's own copy of the vault's keys and their periods: every record in
 * seq order from 1, its hash recomputed (a withheld record's from its digests), a trusted
 * key's signature on the head at it, in that key's period (AccessChainVerifier, as
 * `verify` does on the database, but with no storage times). With the witness's trail
 * head (`access-trail.checkpoint`, fetched from the witness by the auditor), records cut
 * from the end or a rewritten history show too. Checked for `tenant`, no withheld record
 * may be that tenant's (`own_record_withheld`); checked whole, none may be withheld
 * (`record_withheld`).
 */
export function verifyTrail(
  lines: readonly unknown[],
  trusted: { keys: ReadonlyMap<string, Uint8Array>; periods?: KeyPeriods },
  witnessHead: string | null,
  tenant: string | null = null,
): TrailReport {
  const problems: TrailProblem[] = [];
  let witnessed = null;
  if (witnessHead !== null) {
    witnessed = parseTrailHead(witnessHead);
    if (!witnessed) problems.push({ kind: 'malformed_witness_head', detail: 'the witness head is not a signed access-trail note' });
  }
  const chain = new AccessChainVerifier(trusted.keys, witnessed, trusted.periods ?? new Map());
  let [lastSeq, shown, withheld] = [0, 0, 0];
  lines.forEach((value, i) => {
    const parsed = trailLineSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      problems.push({ kind: 'malformed_record', line: i + 1, detail: `line ${i + 1}: ${value === undefined ? 'not JSON' : `${issue.path.join('.') || '(root)'}: ${issue.message}`}` });
      return;
    }
    const l = parsed.data;
    lastSeq = l.seq;
    const stored = { hash: fromHex(l.hash), keyId: l.keyId, signature: l.signature === null ? null : new Uint8Array(Buffer.from(l.signature, 'base64')) };
    if ('withheld' in l) {
      withheld++;
      const digests = { tenant: fromHex(l.withheld.tenant), fields: fromHex(l.withheld.fields) };
      chain.push({ seq: l.seq, at: new Date(l.at), withheld: digests, ...stored });
      if (tenant === null) problems.push({ kind: 'record_withheld', seq: l.seq, detail: `record ${l.seq}: withheld, in a check of the whole trail (a tenant's listing is checked with --tenant)` });
      else if (bytesEqual(digests.tenant, tenantCommitment(l.seq, tenant))) problems.push({ kind: 'own_record_withheld', seq: l.seq, detail: `record ${l.seq}: withheld, but it is ${tenant}'s` });
      return;
    }
    if (tenant === null || l.tenant === tenant) shown++;
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
      ...stored,
    });
  });
  for (const p of chain.finish()) problems.push({ kind: p.kind, seq: p.seq, detail: `record ${p.seq}: ${p.kind.replace(/_/g, ' ')}` });
  if (lines.length === 0) problems.push({ kind: 'empty_trail', detail: 'the file holds no record' });
  return { ok: problems.length === 0, records: chain.count, lastSeq, witnessedSeq: witnessed?.seq ?? null, tenant, shown, withheld, problems };
}
