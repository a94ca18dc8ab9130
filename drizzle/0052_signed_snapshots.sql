-- Snapshots are signed, and a vault that signs starts from no other.
--
-- A snapshot is sealed with a key derived from the session's data key. Whoever holds that
-- key (a leaked tenant key version unwraps it) and the application role's credentials,
-- which may store snapshots, could seal a state of their own at a head the vault signed,
-- with that event's real hash: a read in a fresh process started from it and handed the
-- agent a history the vault never wrote (a second approval that never came), under a head
-- whose signature checks. Now the vault signs every snapshot it writes with the checkpoint
-- key, over its place and its sealed bytes (src/audit/snapshot-signature.ts), and a vault
-- that signs starts from no snapshot no trusted key signed: it folds from the events
-- instead (snapshots are derived data) and writes a signed one. Snapshots written before
-- this carry no signature and are passed over so, once.
--
-- session_vault_state_read (0027) stays for processes of the earlier version still running
-- during an upgrade; this version reads through session_vault_state_read_signed, which
-- answers the same but carries the snapshot's signature beside it, and takes the nearest
-- signed snapshot before any unsigned one: an unsigned one at the head (written before
-- this, or stored by someone else ahead of the vault's own, which the primary key then
-- keeps out) would otherwise send every read of a fresh process back to the first event.
ALTER TABLE snapshots ADD COLUMN key_id text;
--> statement-breakpoint
ALTER TABLE snapshots ADD COLUMN signature bytea;
--> statement-breakpoint
ALTER TABLE snapshots ADD CONSTRAINT snapshots_signature_shape
  CHECK ((key_id IS NULL) = (signature IS NULL) AND (signature IS NULL OR octet_length(signature) = 64));
--> statement-breakpoint
CREATE FUNCTION session_vault_state_read_signed(p_tenant text, p_session text, p_upto bigint, p_at timestamptz, p_limit integer, p_have bigint)
RETURNS TABLE (
  r_status text, r_keyed boolean, r_head_seq bigint, r_head_hash bytea, r_kind text,
  r_seq bigint, r_type text, r_at timestamptz, r_correlation_id text, r_idempotency_key text, r_tool text,
  r_prompt_tokens integer, r_completion_tokens integer, r_cost_usd double precision, r_duration_ms bigint,
  r_key_version integer, r_nonce bytea, r_ciphertext bytea, r_hash bytea, r_sign_key text, r_signature bytea
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
      NULL::integer, NULL::integer, NULL::double precision, NULL::bigint, NULL::integer, NULL::bytea, NULL::bytea, NULL::bytea, NULL::text, NULL::bytea;
    RETURN;
  END IF;
  SELECT * INTO v_snap FROM snapshots sn
    WHERE sn.tenant_id = p_tenant AND sn.session_id = p_session AND sn.seq <= p_upto AND (p_at IS NULL OR sn.at <= p_at)
    ORDER BY sn.signature IS NOT NULL DESC, sn.seq DESC LIMIT 1; -- a signed one before any unsigned (written before this, or forged)
  IF FOUND THEN
    v_whole := p_have IS NULL OR v_snap.seq > p_have;
    v_from := CASE WHEN v_whole THEN v_snap.seq ELSE p_have END;
    -- The snapshot travels in the event columns: its time, head hash (in r_hash), key version, nonce, ciphertext.
    RETURN QUERY SELECT v_status, v_keyed, v_head, v_hash, 'snapshot'::text, v_snap.seq, NULL::text, v_snap.at, NULL::text, NULL::text, NULL::text,
      NULL::integer, NULL::integer, NULL::double precision, NULL::bigint, v_snap.key_version,
      CASE WHEN v_whole THEN v_snap.nonce END, CASE WHEN v_whole THEN v_snap.ciphertext END, v_snap.head_hash,
      CASE WHEN v_whole THEN v_snap.key_id END, CASE WHEN v_whole THEN v_snap.signature END;
  ELSE
    v_from := COALESCE(p_have, 1);
    RETURN QUERY SELECT v_status, v_keyed, v_head, v_hash, 'session'::text, NULL::bigint, NULL::text, NULL::timestamptz, NULL::text, NULL::text, NULL::text,
      NULL::integer, NULL::integer, NULL::double precision, NULL::bigint, NULL::integer, NULL::bytea, NULL::bytea, NULL::bytea, NULL::text, NULL::bytea;
  END IF;
  -- One index range, never a scan of the session.
  RETURN QUERY
    SELECT v_status, v_keyed, v_head, v_hash, 'event'::text,
           e.seq, e.type, e.at, e.correlation_id, e.idempotency_key, e.tool,
           e.prompt_tokens, e.completion_tokens, e.cost_usd, e.duration_ms,
           e.key_version, e.nonce, e.ciphertext, e.hash, NULL::text, NULL::bytea
    FROM events e
    WHERE e.tenant_id = p_tenant AND e.session_id = p_session AND e.seq >= v_from AND e.seq <= p_upto
    ORDER BY e.seq
    LIMIT p_limit;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_state_read_signed(text, text, bigint, timestamptz, integer, bigint) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_state_read_signed(text, text, bigint, timestamptz, integer, bigint) TO session_vault_app;
