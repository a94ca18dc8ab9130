-- A page of a session's events for a full read on Postgres (replay, export, verify; the
-- embedded store reads the table in a transaction instead, src/store/queries/read-page.ts):
-- the rows after p_after in seq order, at most p_limit, in one statement that scopes itself to
-- the tenant, so a page costs one round trip instead of a transaction of four. The bytes
-- come as base64 and the time as epoch milliseconds: what the reader decodes fastest
-- (hex, bytea's text form, is twice the size on the wire and slower to decode; a
-- timestamp's text, slower to parse). Row-level security applies as to any read: the
-- function runs as its caller. The auditor role, which may read every row's ciphertext
-- already (0022), may call it too: its verify reads pages this way.
CREATE FUNCTION session_vault_read_page(p_tenant text, p_session text, p_after bigint, p_limit integer)
RETURNS TABLE (
  r_seq bigint, r_type text, r_at_ms double precision, r_correlation_id text, r_idempotency_key text, r_tool text,
  r_prompt_tokens integer, r_completion_tokens integer, r_cost_usd double precision, r_duration_ms bigint,
  r_key_version integer, r_nonce text, r_ciphertext text, r_hash text
) LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM session_vault_scope(p_tenant);
  RETURN QUERY
    SELECT e.seq, e.type, (extract(epoch FROM e.at) * 1000)::double precision, e.correlation_id, e.idempotency_key, e.tool,
           e.prompt_tokens, e.completion_tokens, e.cost_usd, e.duration_ms, e.key_version,
           encode(e.nonce, 'base64'), encode(e.ciphertext, 'base64'), encode(e.hash, 'base64')
    FROM events e
    WHERE e.tenant_id = p_tenant AND e.session_id = p_session AND e.seq > p_after
    ORDER BY e.seq
    LIMIT p_limit;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_read_page(text, text, bigint, integer) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_read_page(text, text, bigint, integer) TO session_vault_app;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_read_page(text, text, bigint, integer) TO session_vault_auditor;
