-- Group commit: the appends of several sessions of one tenant in one statement, so one
-- round trip and one commit carry what concurrent callers of one process appended while
-- the previous statement was in flight (src/vault/group-commit.ts). Each session's part is
-- what session_vault_append does for it alone: its head checked at its expected seq and
-- active, its rows inserted, its head moved, its signed checkpoint stored. A session whose
-- head moved is left out, nothing of it written, and reported false in the result, the
-- others go on; any error (a unique violation, a guard) rolls back the whole statement,
-- and the caller then writes each part on its own. Rows come flattened in the batch
-- columns of session_vault_append, each with the index of its session (p_row_part, 1-based);
-- the parts are in p_sessions order and each part's rows are contiguous, in seq order.
CREATE FUNCTION session_vault_append_group(
  p_tenant text, p_sessions text[], p_expected_seq bigint[], p_checkpoint_key_id text[], p_checkpoint_note text[],
  p_row_part integer[],
  p_seq bigint[], p_type text[], p_at timestamptz[], p_correlation_id text[], p_idempotency_key text[],
  p_tool text[], p_prompt_tokens integer[], p_completion_tokens integer[], p_cost_usd double precision[],
  p_duration_ms bigint[], p_key_version integer[], p_ciphertext_lengths integer[],
  p_nonces bytea, p_ciphertexts bytea, p_hashes bytea)
RETURNS boolean[] LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  parts integer := coalesce(array_length(p_sessions, 1), 0);
  n_rows integer := coalesce(array_length(p_seq, 1), 0);
  ok boolean[] := array_fill(false, ARRAY[parts]);
  first_row integer := 1;
  last_row integer;
  i integer;
BEGIN
  PERFORM session_vault_scope(p_tenant);
  IF parts = 0 OR n_rows = 0 OR array_length(p_row_part, 1) <> n_rows
     OR octet_length(p_nonces) <> n_rows * 24 OR octet_length(p_hashes) <> n_rows * 32 THEN
    RAISE EXCEPTION 'session-vault: a group''s columns do not match its rows' USING ERRCODE = 'SV002';
  END IF;
  FOR i IN 1..parts LOOP
    last_row := first_row;
    WHILE last_row < n_rows AND p_row_part[last_row + 1] = i LOOP
      last_row := last_row + 1;
    END LOOP;
    IF p_row_part[first_row] <> i THEN
      RAISE EXCEPTION 'session-vault: a group''s parts must be contiguous and in order' USING ERRCODE = 'SV002';
    END IF;
    UPDATE sessions
       SET head_seq = p_seq[last_row],
           head_hash = substring(p_hashes FROM (last_row - 1) * 32 + 1 FOR 32),
           first_at = coalesce(first_at, p_at[first_row]),
           last_at = p_at[last_row]
     WHERE tenant_id = p_tenant AND session_id = p_sessions[i] AND head_seq = p_expected_seq[i] AND status = 'active';
    ok[i] := FOUND;
    IF FOUND AND p_checkpoint_note[i] IS NOT NULL THEN
      INSERT INTO checkpoints (tenant_id, session_id, seq, key_id, hash, signed_at, note)
      VALUES (p_tenant, p_sessions[i], p_seq[last_row], p_checkpoint_key_id[i],
              substring(p_hashes FROM (last_row - 1) * 32 + 1 FOR 32), p_at[last_row], p_checkpoint_note[i]);
    END IF;
    first_row := last_row + 1;
  END LOOP;
  IF first_row <> n_rows + 1 THEN
    RAISE EXCEPTION 'session-vault: a group''s parts must be contiguous and in order' USING ERRCODE = 'SV002';
  END IF;
  INSERT INTO events (tenant_id, session_id, seq, type, at, correlation_id, idempotency_key, tool,
                      prompt_tokens, completion_tokens, cost_usd, duration_ms, key_version, nonce, ciphertext, hash)
  SELECT p_tenant, p_sessions[u.part], u.seq, u.type, u.at, u.correlation_id, u.idempotency_key, u.tool,
         u.prompt_tokens, u.completion_tokens, u.cost_usd, u.duration_ms, u.key_version,
         substring(p_nonces FROM ((u.i - 1) * 24 + 1)::integer FOR 24),
         substring(p_ciphertexts FROM (u.ct_end - u.ct_len + 1)::integer FOR u.ct_len),
         substring(p_hashes FROM ((u.i - 1) * 32 + 1)::integer FOR 32)
    FROM (SELECT x.*, sum(x.ct_len) OVER (ORDER BY x.i) AS ct_end
            FROM unnest(p_seq, p_type, p_at, p_correlation_id, p_idempotency_key, p_tool, p_prompt_tokens,
                        p_completion_tokens, p_cost_usd, p_duration_ms, p_key_version, p_ciphertext_lengths, p_row_part)
                 WITH ORDINALITY AS x(seq, type, at, correlation_id, idempotency_key, tool, prompt_tokens,
                                      completion_tokens, cost_usd, duration_ms, key_version, ct_len, part, i)) AS u
   WHERE ok[u.part];
  RETURN ok;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_append_group(text, text[], bigint[], text[], text[], integer[], bigint[], text[], timestamptz[], text[], text[], text[],
  integer[], integer[], double precision[], bigint[], integer[], integer[], bytea, bytea, bytea) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_append_group(text, text[], bigint[], text[], text[], integer[], bigint[], text[], timestamptz[], text[], text[], text[],
  integer[], integer[], double precision[], bigint[], integer[], integer[], bytea, bytea, bytea) TO session_vault_app;
