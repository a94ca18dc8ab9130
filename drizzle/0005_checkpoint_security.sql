-- Checkpoints (0004) get the same guards as events: append-only by privilege and by
-- trigger, row-level security by tenant. session_vault_append v3 writes the batch's
-- signed checkpoint in the same statement as the batch, so a committed batch always has
-- its signed head and a failed one has neither.
CREATE TRIGGER checkpoints_append_only_rows BEFORE UPDATE OR DELETE ON checkpoints
  FOR EACH ROW EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
CREATE TRIGGER checkpoints_append_only_truncate BEFORE TRUNCATE ON checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
ALTER TABLE checkpoints ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE checkpoints FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON checkpoints
  USING (tenant_id = current_setting('vault.tenant', true))
  WITH CHECK (tenant_id = current_setting('vault.tenant', true));
--> statement-breakpoint
REVOKE ALL ON checkpoints FROM PUBLIC;
--> statement-breakpoint
GRANT SELECT, INSERT ON checkpoints TO session_vault_app;
--> statement-breakpoint
DROP FUNCTION session_vault_append(text, text, bigint, bigint[], text[], timestamptz[], text[], text[], text[],
  integer[], integer[], double precision[], bigint[], integer[], integer[], bytea, bytea, bytea);
--> statement-breakpoint
CREATE FUNCTION session_vault_append(
  p_tenant text, p_session text, p_expected_seq bigint,
  p_seq bigint[], p_type text[], p_at timestamptz[], p_correlation_id text[], p_idempotency_key text[],
  p_tool text[], p_prompt_tokens integer[], p_completion_tokens integer[], p_cost_usd double precision[],
  p_duration_ms bigint[], p_key_version integer[], p_ciphertext_lengths integer[],
  p_nonces bytea, p_ciphertexts bytea, p_hashes bytea,
  p_checkpoint_key_id text, p_checkpoint_note text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  n integer := array_length(p_seq, 1);
BEGIN
  PERFORM set_config('vault.tenant', p_tenant, true);
  UPDATE sessions
     SET head_seq = p_seq[n],
         head_hash = substring(p_hashes FROM (n - 1) * 32 + 1 FOR 32),
         first_at = coalesce(first_at, p_at[1]),
         last_at = p_at[n]
   WHERE tenant_id = p_tenant AND session_id = p_session AND head_seq = p_expected_seq AND status = 'active';
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO events (tenant_id, session_id, seq, type, at, correlation_id, idempotency_key, tool,
                      prompt_tokens, completion_tokens, cost_usd, duration_ms, key_version, nonce, ciphertext, hash)
  SELECT p_tenant, p_session, u.seq, u.type, u.at, u.correlation_id, u.idempotency_key, u.tool,
         u.prompt_tokens, u.completion_tokens, u.cost_usd, u.duration_ms, u.key_version,
         substring(p_nonces FROM ((u.i - 1) * 24 + 1)::integer FOR 24),
         substring(p_ciphertexts FROM (u.ct_end - u.ct_len + 1)::integer FOR u.ct_len),
         substring(p_hashes FROM ((u.i - 1) * 32 + 1)::integer FOR 32)
    FROM (SELECT x.*, sum(x.ct_len) OVER (ORDER BY x.i) AS ct_end
            FROM unnest(p_seq, p_type, p_at, p_correlation_id, p_idempotency_key, p_tool, p_prompt_tokens,
                        p_completion_tokens, p_cost_usd, p_duration_ms, p_key_version, p_ciphertext_lengths)
                 WITH ORDINALITY AS x(seq, type, at, correlation_id, idempotency_key, tool, prompt_tokens,
                                      completion_tokens, cost_usd, duration_ms, key_version, ct_len, i)) AS u;
  IF p_checkpoint_note IS NOT NULL THEN
    INSERT INTO checkpoints (tenant_id, session_id, seq, key_id, hash, signed_at, note)
    VALUES (p_tenant, p_session, p_seq[n], p_checkpoint_key_id,
            substring(p_hashes FROM (n - 1) * 32 + 1 FOR 32), p_at[n], p_checkpoint_note);
  END IF;
  RETURN true;
END
$$;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_append(text, text, bigint, bigint[], text[], timestamptz[], text[], text[], text[],
  integer[], integer[], double precision[], bigint[], integer[], integer[], bytea, bytea, bytea, text, text) TO session_vault_app;
