-- When the database stored each snapshot, by its own clock, so that one a retired signing
-- key signed in its period is still started from, and one it signs later is not.
--
-- A snapshot's signature carries no time, so the vault started from no snapshot a retired
-- key signed (src/vault/snapshots.ts): after a signing-key rotation each
-- session's newest snapshot was passed over once a process, which then folded the session
-- from its first event (seconds for a long one), every session at once after an annual
-- rotation. And `verify` named no snapshot the retired key's leaked secret half signed.
-- Now the trigger that keeps snapshots on their chain (0053) also stamps `stored_at` with
-- the database's clock, whatever the writer gives (but the owner's or a superuser's, as a
-- data-only restore gives: 0055), and a retired key's snapshot counts
-- only where it was stored in the key's period (plus the grace), as its checkpoints and
-- key wraps do (0055). Snapshots stored before this have no time and count as before: not
-- from a retired key.
--
-- session_vault_state_read_signed (0052) stays for processes of the earlier version still
-- running during an upgrade; this version reads through session_vault_state_read_stamped,
-- which answers the same with the snapshot's storage time beside its signature.
ALTER TABLE snapshots ADD COLUMN stored_at timestamptz;
--> statement-breakpoint
ALTER TABLE snapshots ALTER COLUMN stored_at SET DEFAULT clock_timestamp();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION session_vault_snapshot_on_chain() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM events e
                 WHERE e.tenant_id = NEW.tenant_id AND e.session_id = NEW.session_id AND e.seq = NEW.seq
                   AND e.hash = NEW.head_hash AND e.at = NEW.at) THEN
    RAISE EXCEPTION 'session-vault: a snapshot is stored only at an event of its session, with that event''s hash and time' USING ERRCODE = 'SV003';
  END IF;
  IF NEW.signature IS NULL AND (SELECT t.wraps_signed FROM tenants t WHERE t.tenant_id = NEW.tenant_id) IS TRUE THEN
    RAISE EXCEPTION 'session-vault: the tenant is written by vaults that sign: a snapshot is stored only with its signature' USING ERRCODE = 'SV003';
  END IF;
  IF NEW.stored_at IS NULL OR NOT session_vault_may_restore_stamps(TG_RELID) THEN
    NEW.stored_at := clock_timestamp();
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE FUNCTION session_vault_state_read_stamped(p_tenant text, p_session text, p_upto bigint, p_at timestamptz, p_limit integer, p_have bigint)
RETURNS TABLE (
  r_status text, r_keyed boolean, r_head_seq bigint, r_head_hash bytea, r_kind text,
  r_seq bigint, r_type text, r_at timestamptz, r_correlation_id text, r_idempotency_key text, r_tool text,
  r_prompt_tokens integer, r_completion_tokens integer, r_cost_usd double precision, r_duration_ms bigint,
  r_key_version integer, r_nonce bytea, r_ciphertext bytea, r_hash bytea, r_sign_key text, r_signature bytea,
  r_stored_at timestamptz
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
      NULL::integer, NULL::integer, NULL::double precision, NULL::bigint, NULL::integer, NULL::bytea, NULL::bytea, NULL::bytea, NULL::text, NULL::bytea, NULL::timestamptz;
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
      CASE WHEN v_whole THEN v_snap.key_id END, CASE WHEN v_whole THEN v_snap.signature END, v_snap.stored_at;
  ELSE
    v_from := COALESCE(p_have, 1);
    RETURN QUERY SELECT v_status, v_keyed, v_head, v_hash, 'session'::text, NULL::bigint, NULL::text, NULL::timestamptz, NULL::text, NULL::text, NULL::text,
      NULL::integer, NULL::integer, NULL::double precision, NULL::bigint, NULL::integer, NULL::bytea, NULL::bytea, NULL::bytea, NULL::text, NULL::bytea, NULL::timestamptz;
  END IF;
  -- One index range, never a scan of the session.
  RETURN QUERY
    SELECT v_status, v_keyed, v_head, v_hash, 'event'::text,
           e.seq, e.type, e.at, e.correlation_id, e.idempotency_key, e.tool,
           e.prompt_tokens, e.completion_tokens, e.cost_usd, e.duration_ms,
           e.key_version, e.nonce, e.ciphertext, e.hash, NULL::text, NULL::bytea, NULL::timestamptz
    FROM events e
    WHERE e.tenant_id = p_tenant AND e.session_id = p_session AND e.seq >= v_from AND e.seq <= p_upto
    ORDER BY e.seq
    LIMIT p_limit;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_state_read_stamped(text, text, bigint, timestamptz, integer, bigint) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_state_read_stamped(text, text, bigint, timestamptz, integer, bigint) TO session_vault_app;
