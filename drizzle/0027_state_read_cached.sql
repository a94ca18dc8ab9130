-- The latest-state read for a reader that already holds the state at seq p_have, folded
-- and checked by itself (src/vault/state-cache.ts). As session_vault_state_read
-- (0024_state_read.sql), with two differences:
--  * a snapshot at or before p_have travels without its nonce and ciphertext (its seq,
--    time and head hash only): the reader has a state at least as new, and a ~100 KB
--    value it would decrypt and throw away is not sent. The events then start at p_have
--    (the event there, which the reader checks its state's head against, then those after
--    it); a newer snapshot is sent whole, as before.
--  * r_keyed says whether the session's data key is still wrapped in the database. A key
--    shredded by another process is then seen on the next read, and the reader drops the
--    key and the state it holds instead of going on from them.
-- With p_have NULL it answers exactly as session_vault_state_read. That function stays
-- for processes of the earlier version still running during an upgrade.
CREATE FUNCTION session_vault_state_read(p_tenant text, p_session text, p_upto bigint, p_at timestamptz, p_limit integer, p_have bigint)
RETURNS TABLE (
  r_status text, r_keyed boolean, r_head_seq bigint, r_head_hash bytea, r_kind text,
  r_seq bigint, r_type text, r_at timestamptz, r_correlation_id text, r_idempotency_key text, r_tool text,
  r_prompt_tokens integer, r_completion_tokens integer, r_cost_usd double precision, r_duration_ms bigint,
  r_key_version integer, r_nonce bytea, r_ciphertext bytea, r_hash bytea
) LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_status text;
  v_keyed boolean;
  v_head bigint;
  v_hash bytea;
  v_from bigint := 1;
  v_snap snapshots%ROWTYPE;
  v_whole boolean;
BEGIN
  PERFORM session_vault_scope(p_tenant);
  SELECT s.status, s.wrapped_data_key IS NOT NULL, s.head_seq, s.head_hash INTO v_status, v_keyed, v_head, v_hash
    FROM sessions s WHERE s.tenant_id = p_tenant AND s.session_id = p_session;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_status <> 'active' OR NOT v_keyed THEN
    RETURN QUERY SELECT v_status, v_keyed, v_head, v_hash, 'session'::text, NULL::bigint, NULL::text, NULL::timestamptz, NULL::text, NULL::text, NULL::text,
      NULL::integer, NULL::integer, NULL::double precision, NULL::bigint, NULL::integer, NULL::bytea, NULL::bytea, NULL::bytea;
    RETURN;
  END IF;
  SELECT * INTO v_snap FROM snapshots sn
    WHERE sn.tenant_id = p_tenant AND sn.session_id = p_session AND sn.seq <= p_upto AND (p_at IS NULL OR sn.at <= p_at)
    ORDER BY sn.seq DESC LIMIT 1;
  IF FOUND THEN
    v_whole := p_have IS NULL OR v_snap.seq > p_have;
    v_from := CASE WHEN v_whole THEN v_snap.seq ELSE p_have END;
    -- The snapshot travels in the event columns: its time, head hash (in r_hash), key version, nonce, ciphertext.
    RETURN QUERY SELECT v_status, v_keyed, v_head, v_hash, 'snapshot'::text, v_snap.seq, NULL::text, v_snap.at, NULL::text, NULL::text, NULL::text,
      NULL::integer, NULL::integer, NULL::double precision, NULL::bigint, v_snap.key_version,
      CASE WHEN v_whole THEN v_snap.nonce END, CASE WHEN v_whole THEN v_snap.ciphertext END, v_snap.head_hash;
  ELSE
    v_from := COALESCE(p_have, 1);
    RETURN QUERY SELECT v_status, v_keyed, v_head, v_hash, 'session'::text, NULL::bigint, NULL::text, NULL::timestamptz, NULL::text, NULL::text, NULL::text,
      NULL::integer, NULL::integer, NULL::double precision, NULL::bigint, NULL::integer, NULL::bytea, NULL::bytea, NULL::bytea;
  END IF;
  -- One index range, never a scan of the session.
  RETURN QUERY
    SELECT v_status, v_keyed, v_head, v_hash, 'event'::text,
           e.seq, e.type, e.at, e.correlation_id, e.idempotency_key, e.tool,
           e.prompt_tokens, e.completion_tokens, e.cost_usd, e.duration_ms,
           e.key_version, e.nonce, e.ciphertext, e.hash
    FROM events e
    WHERE e.tenant_id = p_tenant AND e.session_id = p_session AND e.seq >= v_from AND e.seq <= p_upto
    ORDER BY e.seq
    LIMIT p_limit;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_state_read(text, text, bigint, timestamptz, integer, bigint) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_state_read(text, text, bigint, timestamptz, integer, bigint) TO session_vault_app;
