-- session_vault_append_one: the batch of one (an agent records one message or tool call
-- at a time) with each column a plain parameter, where session_vault_append (0025) takes
-- a one-element array a column and three byte strings to cut. Measured by turns on the
-- same server: about 40 µs less of a single append's 620, in the database's parsing of
-- twelve array literals and the client's building of them. The same rules as 0025: the
-- transaction's tenant scope (refused when it names another tenant), the byte lengths (a
-- 24-byte nonce, a 32-byte hash, else SV002), the head check (at p_expected_seq and
-- active, else false and nothing written), the row at the seq after it, and the signed
-- checkpoint of the new head in the same statement. Runs as its caller: row-level
-- security and the append-only triggers hold as for any insert; only the application
-- role may call it.
CREATE FUNCTION session_vault_append_one(
  p_tenant text, p_session text, p_expected_seq bigint,
  p_type text, p_at timestamptz, p_correlation_id text, p_idempotency_key text, p_tool text,
  p_prompt_tokens integer, p_completion_tokens integer, p_cost_usd double precision,
  p_duration_ms bigint, p_key_version integer, p_nonce bytea, p_ciphertext bytea, p_hash bytea,
  p_checkpoint_key_id text, p_checkpoint_note text)
RETURNS boolean LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM session_vault_scope(p_tenant);
  IF octet_length(p_nonce) IS DISTINCT FROM 24 OR octet_length(p_hash) IS DISTINCT FROM 32 THEN
    RAISE EXCEPTION 'session-vault: the batch''s byte columns do not match its lengths' USING ERRCODE = 'SV002';
  END IF;
  UPDATE sessions
     SET head_seq = p_expected_seq + 1,
         head_hash = p_hash,
         first_at = coalesce(first_at, p_at),
         last_at = p_at
   WHERE tenant_id = p_tenant AND session_id = p_session AND head_seq = p_expected_seq AND status = 'active';
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO events (tenant_id, session_id, seq, type, at, correlation_id, idempotency_key, tool,
                      prompt_tokens, completion_tokens, cost_usd, duration_ms, key_version, nonce, ciphertext, hash)
  VALUES (p_tenant, p_session, p_expected_seq + 1, p_type, p_at, p_correlation_id, p_idempotency_key, p_tool,
          p_prompt_tokens, p_completion_tokens, p_cost_usd, p_duration_ms, p_key_version, p_nonce, p_ciphertext, p_hash);
  IF p_checkpoint_note IS NOT NULL THEN
    INSERT INTO checkpoints (tenant_id, session_id, seq, key_id, hash, signed_at, note)
    VALUES (p_tenant, p_session, p_expected_seq + 1, p_checkpoint_key_id, p_hash, p_at, p_checkpoint_note);
  END IF;
  RETURN true;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_append_one(text, text, bigint, text, timestamptz, text, text, text, integer, integer,
  double precision, bigint, integer, bytea, bytea, bytea, text, text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_append_one(text, text, bigint, text, timestamptz, text, text, text, integer, integer,
  double precision, bigint, integer, bytea, bytea, bytea, text, text) TO session_vault_app;
