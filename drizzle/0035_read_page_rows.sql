-- session_vault_read_page_rows: the page of a full read on Postgres (replay, export,
-- verify) with the table's own column types, for the reader to fetch as binary COPY
-- (`COPY (SELECT * FROM session_vault_read_page_rows(…)) TO STDOUT (FORMAT binary)`,
-- src/store/queries/read-page.ts): bytes and integers then cross the wire as they are
-- stored, where 0032's text row made the server encode every byte string in base64 and
-- the client parse sixteen text fields and decode the base64 back. The same rules as
-- 0032: the rows after p_after in seq order, at most p_limit, in one statement that
-- scopes itself to the tenant (session_vault_scope) and runs as its caller, so row-level
-- security applies as to any read; the application role and the auditor (whose verify
-- reads pages this way) may call it. 0032's function stays for the previous version's
-- instances while a deployment rolls over; this version no longer calls it.
CREATE FUNCTION session_vault_read_page_rows(p_tenant text, p_session text, p_after bigint, p_limit integer)
RETURNS TABLE (
  r_seq bigint, r_type text, r_at timestamptz, r_correlation_id text, r_idempotency_key text, r_tool text,
  r_prompt_tokens integer, r_completion_tokens integer, r_cost_usd double precision, r_duration_ms bigint,
  r_key_version integer, r_nonce bytea, r_ciphertext bytea, r_hash bytea
) LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM session_vault_scope(p_tenant);
  RETURN QUERY
    SELECT e.seq, e.type, e.at, e.correlation_id, e.idempotency_key, e.tool,
           e.prompt_tokens, e.completion_tokens, e.cost_usd, e.duration_ms, e.key_version,
           e.nonce, e.ciphertext, e.hash
    FROM events e
    WHERE e.tenant_id = p_tenant AND e.session_id = p_session AND e.seq > p_after
    ORDER BY e.seq
    LIMIT p_limit;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_read_page_rows(text, text, bigint, integer) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_read_page_rows(text, text, bigint, integer) TO session_vault_app;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_read_page_rows(text, text, bigint, integer) TO session_vault_auditor;
