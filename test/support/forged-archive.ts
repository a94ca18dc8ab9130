/**
 * What the vault's archive records for a session at its head, as a thief with the
 * retention role's credentials writes it in SQL: the object's usual name, a digest of
 * their own (`\xdead`) and no object behind it. An INSERT for the tenant's scope;
 * `returning` is added as it is (`RETURNING head_seq`, to release in the same statement).
 */
export function forgedArchiveRecord(tenant: string, session: string, returning = ''): string {
  return `INSERT INTO archives (tenant_id, session_id, head_seq, head_hash, object_name, store, digest, bytes, archived_at, archived_by, verified_at)
       SELECT tenant_id, session_id, head_seq, head_hash, '${tenant}/${session}/' || head_seq || '.svarc.gz', 'folder', '\\xdead'::bytea, 1, now(), 'mallory', now()
         FROM sessions WHERE session_id = '${session}' ${returning}`;
}
