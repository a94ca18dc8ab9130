-- session_vault_read (0020_read_around.sql) for readers that hold session keys: the same
-- head and events in one statement, plus r_keyed, whether the session's data key is still
-- wrapped in the database. A session whose key was shredded returns no events and says
-- so, and the reader drops the key it may still hold from before (src/vault/read.ts):
-- a shred by another process is seen by the next tail read, as by the next state read
-- (0027). session_vault_read stays for processes of the earlier version during an upgrade.
CREATE FUNCTION session_vault_read_keyed(p_tenant text, p_session text, p_tail integer, p_seqs bigint[])
RETURNS TABLE (
  r_status text, r_keyed boolean, r_head_seq bigint, r_head_hash bytea,
  r_seq bigint, r_type text, r_at timestamptz, r_correlation_id text, r_idempotency_key text, r_tool text,
  r_prompt_tokens integer, r_completion_tokens integer, r_cost_usd double precision, r_duration_ms bigint,
  r_key_version integer, r_nonce bytea, r_ciphertext bytea, r_hash bytea
) LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_status text;
  v_keyed boolean;
  v_head bigint;
  v_hash bytea;
  v_any boolean := false;
BEGIN
  PERFORM session_vault_scope(p_tenant);
  SELECT s.status, s.wrapped_data_key IS NOT NULL, s.head_seq, s.head_hash INTO v_status, v_keyed, v_head, v_hash
    FROM sessions s WHERE s.tenant_id = p_tenant AND s.session_id = p_session;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  -- Two index probes (a range for the tail, the listed seqs), never a scan of the session.
  -- The caller lists each wanted seq's predecessor itself and drops rows seen twice.
  IF v_status = 'active' AND v_keyed AND p_tail > 0 THEN
    RETURN QUERY
      SELECT v_status, v_keyed, v_head, v_hash,
             e.seq, e.type, e.at, e.correlation_id, e.idempotency_key, e.tool,
             e.prompt_tokens, e.completion_tokens, e.cost_usd, e.duration_ms,
             e.key_version, e.nonce, e.ciphertext, e.hash
      FROM events e
      WHERE e.tenant_id = p_tenant AND e.session_id = p_session AND e.seq >= v_head - p_tail
      ORDER BY e.seq;
    v_any := FOUND;
  END IF;
  IF v_status = 'active' AND v_keyed AND cardinality(p_seqs) > 0 THEN
    RETURN QUERY
      SELECT v_status, v_keyed, v_head, v_hash,
             e.seq, e.type, e.at, e.correlation_id, e.idempotency_key, e.tool,
             e.prompt_tokens, e.completion_tokens, e.cost_usd, e.duration_ms,
             e.key_version, e.nonce, e.ciphertext, e.hash
      FROM events e
      WHERE e.tenant_id = p_tenant AND e.session_id = p_session AND e.seq = ANY (p_seqs)
      ORDER BY e.seq;
    v_any := v_any OR FOUND;
  END IF;
  IF NOT v_any THEN
    -- No event rows (none wanted, the session archived or purged, or its key shredded): the session alone.
    RETURN QUERY SELECT v_status, v_keyed, v_head, v_hash, NULL::bigint, NULL::text, NULL::timestamptz, NULL::text, NULL::text, NULL::text,
      NULL::integer, NULL::integer, NULL::double precision, NULL::bigint, NULL::integer, NULL::bytea, NULL::bytea, NULL::bytea;
  END IF;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_read_keyed(text, text, integer, bigint[]) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_read_keyed(text, text, integer, bigint[]) TO session_vault_app;
