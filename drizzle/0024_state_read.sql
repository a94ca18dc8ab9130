-- A session's state as of a point in one statement: its head, the nearest snapshot at or
-- before the point, and the events from the snapshot's seq (the event it names as its
-- head, which the reader checks it against, then those after it), at most p_limit of
-- them, up to p_upto. Reading an agent's latest state (src/vault/snapshots.ts) then
-- costs one round trip instead of three transactions. With no snapshot, the events from
-- seq 1. SECURITY INVOKER: it scopes the statement to the tenant (session_vault_scope)
-- and row-level security applies as to any read of the application role.
CREATE FUNCTION session_vault_state_read(p_tenant text, p_session text, p_upto bigint, p_at timestamptz, p_limit integer)
RETURNS TABLE (
  r_status text, r_head_seq bigint, r_head_hash bytea, r_kind text,
  r_seq bigint, r_type text, r_at timestamptz, r_correlation_id text, r_idempotency_key text, r_tool text,
  r_prompt_tokens integer, r_completion_tokens integer, r_cost_usd double precision, r_duration_ms bigint,
  r_key_version integer, r_nonce bytea, r_ciphertext bytea, r_hash bytea
) LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_status text;
  v_head bigint;
  v_hash bytea;
  v_from bigint := 1;
  v_snap snapshots%ROWTYPE;
BEGIN
  PERFORM session_vault_scope(p_tenant);
  SELECT s.status, s.head_seq, s.head_hash INTO v_status, v_head, v_hash
    FROM sessions s WHERE s.tenant_id = p_tenant AND s.session_id = p_session;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_status <> 'active' THEN
    RETURN QUERY SELECT v_status, v_head, v_hash, 'session'::text, NULL::bigint, NULL::text, NULL::timestamptz, NULL::text, NULL::text, NULL::text,
      NULL::integer, NULL::integer, NULL::double precision, NULL::bigint, NULL::integer, NULL::bytea, NULL::bytea, NULL::bytea;
    RETURN;
  END IF;
  SELECT * INTO v_snap FROM snapshots sn
    WHERE sn.tenant_id = p_tenant AND sn.session_id = p_session AND sn.seq <= p_upto AND (p_at IS NULL OR sn.at <= p_at)
    ORDER BY sn.seq DESC LIMIT 1;
  IF FOUND THEN
    v_from := v_snap.seq;
    -- The snapshot travels in the event columns: its time, head hash (in r_hash), key version, nonce, ciphertext.
    RETURN QUERY SELECT v_status, v_head, v_hash, 'snapshot'::text, v_snap.seq, NULL::text, v_snap.at, NULL::text, NULL::text, NULL::text,
      NULL::integer, NULL::integer, NULL::double precision, NULL::bigint, v_snap.key_version, v_snap.nonce, v_snap.ciphertext, v_snap.head_hash;
  ELSE
    RETURN QUERY SELECT v_status, v_head, v_hash, 'session'::text, NULL::bigint, NULL::text, NULL::timestamptz, NULL::text, NULL::text, NULL::text,
      NULL::integer, NULL::integer, NULL::double precision, NULL::bigint, NULL::integer, NULL::bytea, NULL::bytea, NULL::bytea;
  END IF;
  -- One index range, never a scan of the session.
  RETURN QUERY
    SELECT v_status, v_head, v_hash, 'event'::text,
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
REVOKE ALL ON FUNCTION session_vault_state_read(text, text, bigint, timestamptz, integer) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_state_read(text, text, bigint, timestamptz, integer) TO session_vault_app;
