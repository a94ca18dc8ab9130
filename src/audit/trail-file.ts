import { z } from 'zod';
import { fromHex, toHex } from '../crypto';
import type { AccessRecord } from '../domain';
import { AccessChainVerifier, parseTrailHead } from './access';
import type { KeyPeriods } from './key-period';

/**
 * The operator access trail as a file an auditor checks alone (`access-log --json` writes
 * it, `verify-trail` checks it): one JSON object a line, each record's fields with its
 * chain hash (hex) and the signature of the trail head at it (`keyId`, base64 `signature`;
 * null for records written before the trail was signed). The whole trail, from seq 1: each
 * hash covers the record before it (audit/access.ts), so a filtered listing cannot be
 * checked. Pure.
 */
const trailLineSchema = z.strictObject({
  seq: z.number().int().positive(),
  at: z.iso.datetime(),
  actor: z.string(),
  action: z.string(),
  tenant: z.string().nullable(),
  session: z.string().nullable(),
  reason: z.string().nullable(),
  outcome: z.string(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  keyId: z.string().min(1).nullable(),
  signature: z.base64().nullable(),
});
export type TrailLine = z.infer<typeof trailLineSchema>;

/** A stored record as a line of the trail file. */
export function trailLine(r: AccessRecord & { hash: Uint8Array; keyId: string | null; signature: Uint8Array | null }): TrailLine {
  return {
    seq: r.seq,
    at: r.at.toISOString(),
    actor: r.actor,
    action: r.action,
    tenant: r.tenant,
    session: r.session,
    reason: r.reason,
    outcome: r.outcome,
    hash: toHex(r.hash),
    keyId: r.keyId,
    signature: r.signature === null ? null : Buffer.from(r.signature).toString('base64'),
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
  problems: TrailProblem[];
}

/**
 * Checks a trail file (its lines, parsed as JSON: a line that is not is `undefined`)
 * against the auditor's own copy of the vault's keys and their periods: every record in
 * seq order from 1, its hash recomputed, a trusted key's signature on the head at it, in
 * that key's period (AccessChainVerifier, as `verify` does on the database, but with no
 * storage times). With the witness's trail head (`access-trail.checkpoint`, fetched from
 * the witness by the auditor), records cut from the end or a rewritten history show too.
 */
export function verifyTrail(lines: readonly unknown[], trusted: { keys: ReadonlyMap<string, Uint8Array>; periods?: KeyPeriods }, witnessHead: string | null): TrailReport {
  const problems: TrailProblem[] = [];
  let witnessed = null;
  if (witnessHead !== null) {
    witnessed = parseTrailHead(witnessHead);
    if (!witnessed) problems.push({ kind: 'malformed_witness_head', detail: 'the witness head is not a signed access-trail note' });
  }
  const chain = new AccessChainVerifier(trusted.keys, witnessed, trusted.periods ?? new Map());
  let lastSeq = 0;
  lines.forEach((value, i) => {
    const parsed = trailLineSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      problems.push({ kind: 'malformed_record', line: i + 1, detail: `line ${i + 1}: ${value === undefined ? 'not JSON' : `${issue.path.join('.') || '(root)'}: ${issue.message}`}` });
      return;
    }
    const l = parsed.data;
    lastSeq = l.seq;
    chain.push({
      seq: l.seq,
      at: new Date(l.at),
      actor: l.actor,
      action: l.action,
      tenant: l.tenant,
      session: l.session,
      reason: l.reason,
      outcome: l.outcome,
      hash: fromHex(l.hash),
      keyId: l.keyId,
      signature: l.signature === null ? null : new Uint8Array(Buffer.from(l.signature, 'base64')),
    });
  });
  for (const p of chain.finish()) problems.push({ kind: p.kind, seq: p.seq, detail: `record ${p.seq}: ${p.kind.replace(/_/g, ' ')}` });
  if (lines.length === 0) problems.push({ kind: 'empty_trail', detail: 'the file holds no record' });
  return { ok: problems.length === 0, records: chain.count, lastSeq, witnessedSeq: witnessed?.seq ?? null, problems };
}
