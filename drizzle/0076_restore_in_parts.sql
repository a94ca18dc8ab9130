-- A restore in parts: a long session's events go back one statement a part, inside one
-- transaction, as a long append does (src/vault/append.ts).
--
-- session_vault_restore takes every event of a session in one statement. On the
-- embedded store (PGlite), whose memory grows to the largest statement it has run and
-- never shrinks, restoring a 10,000-event session (11 MB of rows) peaked at about 900 MB
-- of the process's memory, where other commands on that session stay near 200; a legal
-- hold on an archived session restores it (`hold set`), so the desk's command paid it.
-- This function takes one part: the first (from seq 1) moves the session from archived
-- to active at the head the caller read, as session_vault_restore does; each later one
-- must continue the part before it in the same transaction; at commit the session's head
-- event must be back (0041), so a restore that stops short is refused whole.
CREATE FUNCTION session_vault_restore_part(
  p_tenant text, p_session text, p_head_seq bigint, p_head_hash bytea,
  p_seq bigint[], p_type text[], p_at timestamptz[], p_correlation_id text[], p_idempotency_key text[],
  p_tool text[], p_prompt_tokens integer[], p_completion_tokens integer[], p_cost_usd double precision[],
  p_duration_ms bigint[], p_key_version integer[], p_ciphertext_lengths integer[],
  p_nonces bytea, p_ciphertexts bytea, p_hashes bytea)
RETURNS boolean LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  n integer := coalesce(array_length(p_seq, 1), 0);
  v_from bigint := p_seq[1];
BEGIN
  PERFORM session_vault_scope(p_tenant);
  IF n = 0 OR v_from IS NULL OR v_from + n - 1 > p_head_seq
     OR NOT (SELECT bool_and(s = v_from + i - 1) FROM unnest(p_seq) WITH ORDINALITY AS x(s, i)) THEN
    RAISE EXCEPTION 'session-vault: a restored part is consecutive seqs up to the head' USING ERRCODE = 'SV002';
  END IF;
  IF v_from = 1 THEN
    UPDATE sessions SET status = 'active'
     WHERE tenant_id = p_tenant AND session_id = p_session AND status = 'archived'
       AND head_seq = p_head_seq AND head_hash = p_head_hash;
    IF NOT FOUND THEN
      RETURN false;
    END IF;
  ELSIF coalesce(current_setting('vault.restoring', true), '') <> p_tenant || '/' || p_session || '/' || v_from THEN
    RAISE EXCEPTION 'session-vault: a restored part continues the part before it, in its transaction' USING ERRCODE = 'SV002';
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
  PERFORM set_config('vault.restoring', p_tenant || '/' || p_session || '/' || (v_from + n), true);
  RETURN true;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_restore_part(text, text, bigint, bytea, bigint[], text[], timestamptz[], text[], text[], text[],
  integer[], integer[], double precision[], bigint[], integer[], integer[], bytea, bytea, bytea) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_restore_part(text, text, bigint, bytea, bigint[], text[], timestamptz[], text[], text[], text[],
  integer[], integer[], double precision[], bigint[], integer[], integer[], bytea, bytea, bytea) TO session_vault_app;
--> statement-breakpoint
-- The restore of one statement is the first and only part (its seqs 1..n, the head at n
-- with the last row's hash, as it checked before): one body for both, for processes of
-- an earlier version during an upgrade.
CREATE OR REPLACE FUNCTION session_vault_restore(
  p_tenant text, p_session text,
  p_seq bigint[], p_type text[], p_at timestamptz[], p_correlation_id text[], p_idempotency_key text[],
  p_tool text[], p_prompt_tokens integer[], p_completion_tokens integer[], p_cost_usd double precision[],
  p_duration_ms bigint[], p_key_version integer[], p_ciphertext_lengths integer[],
  p_nonces bytea, p_ciphertexts bytea, p_hashes bytea)
RETURNS boolean LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  n integer := coalesce(array_length(p_seq, 1), 0);
BEGIN
  IF n = 0 OR p_seq[1] <> 1 THEN
    RAISE EXCEPTION 'session-vault: restored rows must be seqs 1..n' USING ERRCODE = 'SV002';
  END IF;
  RETURN session_vault_restore_part(p_tenant, p_session, n, substring(p_hashes FROM (n - 1) * 32 + 1 FOR 32),
    p_seq, p_type, p_at, p_correlation_id, p_idempotency_key, p_tool, p_prompt_tokens, p_completion_tokens, p_cost_usd,
    p_duration_ms, p_key_version, p_ciphertext_lengths, p_nonces, p_ciphertexts, p_hashes);
END
$$;
