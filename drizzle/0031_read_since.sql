-- The events after one a reader holds (the latest state this process folded, a LangGraph
-- thread's events kept by its saver): the session's head, the seq of its latest snapshot
-- and the rows from seq p_have on, in one query. The row at p_have comes without its nonce
-- and ciphertext: the reader holds that event, and checks only that the chain still runs
-- through it (its hash). r_keyed as 0028: a session whose key was shredded returns no
-- events and says so. The latest-state read for a reader holding a state (0027) answered
-- this before, in three queries, with the held event's ciphertext sent again.
CREATE FUNCTION session_vault_read_since(p_tenant text, p_session text, p_have bigint, p_limit integer)
RETURNS TABLE (
  r_status text, r_keyed boolean, r_head_seq bigint, r_head_hash bytea, r_snapshot_seq bigint,
  r_seq bigint, r_type text, r_at timestamptz, r_correlation_id text, r_idempotency_key text, r_tool text,
  r_prompt_tokens integer, r_completion_tokens integer, r_cost_usd double precision, r_duration_ms bigint,
  r_key_version integer, r_nonce bytea, r_ciphertext bytea, r_hash bytea
) LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM session_vault_scope(p_tenant);
  -- One index range, never a scan of the session; none for a session not active or shredded.
  RETURN QUERY
    SELECT s.status, s.wrapped_data_key IS NOT NULL, s.head_seq, s.head_hash,
           (SELECT max(sn.seq) FROM snapshots sn WHERE sn.tenant_id = s.tenant_id AND sn.session_id = s.session_id),
           e.seq, e.type, e.at, e.correlation_id, e.idempotency_key, e.tool,
           e.prompt_tokens, e.completion_tokens, e.cost_usd, e.duration_ms, e.key_version,
           CASE WHEN e.seq = p_have THEN NULL ELSE e.nonce END,
           CASE WHEN e.seq = p_have THEN NULL ELSE e.ciphertext END,
           e.hash
    FROM sessions s
    LEFT JOIN LATERAL (
      SELECT * FROM events ev
      WHERE ev.tenant_id = s.tenant_id AND ev.session_id = s.session_id AND ev.seq >= p_have
        AND s.status = 'active' AND s.wrapped_data_key IS NOT NULL
      ORDER BY ev.seq
      LIMIT p_limit
    ) e ON true
    WHERE s.tenant_id = p_tenant AND s.session_id = p_session;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_read_since(text, text, bigint, integer) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_read_since(text, text, bigint, integer) TO session_vault_app;
