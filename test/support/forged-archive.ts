/**
 * What the vault's archive records for a session at its head, as a thief with the
 * retention role's credentials writes it in SQL: the object's usual name, a digest of
 * their own (`\xdead`) and no object behind it. An INSERT for the tenant's scope;
 * `returning` is added as it is (`RETURNING head_seq`, `ON CONFLICT DO NOTHING`). Since
 * 0079 the database stores it only with a keyholder's proof for that head and digest:
 * `proof` (hex) is one the test made with the vault's release key, as a thief holding the
 * keyring too would; without it the record carries none.
 */
export function forgedArchiveRecord(tenant: string, session: string, returning = '', proof?: string): string {
  return `INSERT INTO archives (tenant_id, session_id, head_seq, head_hash, object_name, store, digest, bytes, archived_at, archived_by, verified_at, proof)
       SELECT tenant_id, session_id, head_seq, head_hash, '${tenant}/${session}/' || head_seq || '.svarc.gz', 'folder', '\\xdead'::bytea, 1, now(), 'mallory', now(), ${proof === undefined ? 'NULL' : `'\\x${proof}'::bytea`}
         FROM sessions WHERE session_id = '${session}' ${returning}`;
}
