import { desc } from 'drizzle-orm';
import { accessLog } from '../schema';
import type { Store, VaultDb } from '../types';
import type { Statement } from '../statement';
import type { AccessRecord } from '../../domain';

/** The last record of the access trail (its seq and hash), or null when it is empty. */
export async function lastAccess(db: VaultDb): Promise<{ seq: number; hash: Uint8Array } | null> {
  const [row] = await db.select({ seq: accessLog.seq, hash: accessLog.hash }).from(accessLog).orderBy(desc(accessLog.seq)).limit(1);
  return row ?? null;
}

const TENANT_SECRETS: Statement = {
  name: 'session_vault_tenant_secrets',
  text: `SELECT DISTINCT ON (tenant_id) tenant_id, tenant_secret FROM access_log
  WHERE tenant_id = ANY($1::text[]) AND tenant_secret IS NOT NULL ORDER BY tenant_id, seq`,
};

/**
 * Each tenant's trail secret, of those named that have one: the one its first v3 record
 * holds (the database refuses another, drizzle/0061; index access_log_tenant_secret).
 */
export async function tenantSecrets(store: Store, tenants: readonly string[]): Promise<Map<string, Uint8Array>> {
  if (tenants.length === 0) return new Map();
  const rows = await store.run<{ tenant_id: string; tenant_secret: Uint8Array }>(TENANT_SECRETS, [tenants]);
  return new Map(rows.map((r) => [r.tenant_id, new Uint8Array(r.tenant_secret)]));
}

const APPEND_ACCESS: Statement = {
  name: 'session_vault_append_access_v4',
  text: `INSERT INTO access_log (seq, at, actor, action, tenant_id, session_id, reason, outcome, hash, key_id, signature, salt, tenant_secret, session_keyed)
SELECT u.seq, u.at, u.actor, u.action, u.tenant_id, u.session_id, u.reason, u.outcome,
       substring($9::bytea FROM ((u.i - 1) * 32 + 1)::integer FOR 32),
       u.key_id,
       CASE WHEN u.key_id IS NULL THEN NULL ELSE substring($11::bytea FROM ((u.i - 1) * 64 + 1)::integer FOR 64) END,
       CASE WHEN u.salted THEN substring($12::bytea FROM ((u.i - 1) * 16 + 1)::integer FOR 16) END,
       CASE WHEN u.keyed THEN substring($14::bytea FROM ((u.i - 1) * 32 + 1)::integer FOR 32) END,
       u.session_keyed
  FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $10::text[], $13::boolean[], $15::boolean[], $16::boolean[])
       WITH ORDINALITY AS u(seq, at, actor, action, tenant_id, session_id, reason, outcome, key_id, salted, keyed, session_keyed, i)`,
};

const HASH = 32;
const SIGNATURE = 64;
const SALT = 16;
const SECRET = 32;

/**
 * Appends access records (already chained, in seq order) in one statement, so all or none
 * are stored; a concurrent writer that took one of the seqs makes it throw
 * unique_violation (23505). A column an array, the hashes, signatures and salts each one
 * bytea of fixed-size slots (a record without a signature has a zeroed slot and a null key
 * id; one without a salt, in the v1 form, a null salt, which the database refuses since
 * drizzle/0060: tests show it). The vault writes every record with a salt, and a tenant's
 * with the tenant's trail secret and its session's digest keyed by the session's trail
 * key: the v4 form (drizzle/0062; the vault's own, v2).
 */
export async function appendAccess(store: Store, records: readonly (AccessRecord & { salt?: Uint8Array | null; tenantSecret?: Uint8Array | null; sessionKeyed?: boolean; hash: Uint8Array; keyId: string | null; signature: Uint8Array | null })[]): Promise<void> {
  if (records.length === 0) return;
  const hashes = Buffer.alloc(records.length * HASH);
  const signatures = Buffer.alloc(records.length * SIGNATURE);
  const salts = Buffer.alloc(records.length * SALT);
  const secrets = Buffer.alloc(records.length * SECRET);
  records.forEach((r, i) => {
    if (r.hash.length !== HASH) throw new RangeError('an access record hash is 32 bytes');
    hashes.set(r.hash, i * HASH);
    if (r.salt) {
      if (r.salt.length !== SALT) throw new RangeError('an access record salt is 16 bytes');
      salts.set(r.salt, i * SALT);
    }
    if (r.tenantSecret) {
      if (r.tenantSecret.length !== SECRET) throw new RangeError("a tenant's trail secret is 32 bytes");
      secrets.set(r.tenantSecret, i * SECRET);
    }
    if (r.keyId !== null) {
      if (r.signature?.length !== SIGNATURE) throw new RangeError('an access record signature is 64 bytes');
      signatures.set(r.signature, i * SIGNATURE);
    }
  });
  const col = <T>(f: (r: (typeof records)[number]) => T) => records.map(f);
  await store.run(APPEND_ACCESS, [
    col((r) => r.seq),
    col((r) => r.at.toISOString()),
    col((r) => r.actor),
    col((r) => r.action),
    col((r) => r.tenant),
    col((r) => r.session),
    col((r) => r.reason),
    col((r) => r.outcome),
    hashes,
    col((r) => r.keyId),
    signatures,
    salts,
    col((r) => Boolean(r.salt)),
    secrets,
    col((r) => Boolean(r.tenantSecret)),
    col((r) => Boolean(r.sessionKeyed)),
  ]);
}
