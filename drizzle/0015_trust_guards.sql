-- Trust hardening (docs/threat-model.md): rules the application used to enforce alone,
-- now enforced by the database whoever connects (short of a superuser disabling
-- triggers, which the chains, signatures and the witness then show).
--
-- 1. The release exception of the append-only guard is bound to the release function
--    itself: the transaction setting alone no longer lets anyone (the owner included)
--    delete events; the DELETE must come from inside session_vault_release_archived,
--    read from the PL/pgSQL call stack, which a caller cannot forge.
CREATE OR REPLACE FUNCTION session_vault_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_stack text;
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'events'
     AND current_setting('vault.releasing', true) = OLD.tenant_id || '/' || OLD.session_id THEN
    GET DIAGNOSTICS v_stack = PG_CONTEXT;
    -- The whole stack, anchored: this trigger, the release function's one DELETE, the
    -- release function called from the top level. A DELETE in a DO block or another
    -- function adds a frame of its own and fails the match.
    IF v_stack ~ ('^PL/pgSQL function session_vault_refuse_change\(\) line \d+ at GET DIAGNOSTICS\n'
                  'SQL statement "DELETE FROM events WHERE tenant_id = p_tenant AND session_id = p_session"\n'
                  'PL/pgSQL function (public\.)?session_vault_release_archived\(text,text,bigint,bytea\) line \d+ at SQL statement$') THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION 'session-vault: % rows are append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'SV001';
END
$$;
--> statement-breakpoint
-- 2. A function that is given a tenant never moves the transaction to another one: it
--    takes the tenant as its scope when none is set (one round trip for a lone append),
--    and refuses when the scope already names another tenant.
CREATE FUNCTION session_vault_scope(p_tenant text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_scope text := nullif(current_setting('vault.tenant', true), '');
BEGIN
  IF v_scope IS NULL THEN
    PERFORM set_config('vault.tenant', p_tenant, true);
  ELSIF v_scope IS DISTINCT FROM p_tenant THEN
    RAISE EXCEPTION 'session-vault: this transaction is scoped to another tenant' USING ERRCODE = 'SV004';
  END IF;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION session_vault_append(
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
  PERFORM session_vault_scope(p_tenant);
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
CREATE OR REPLACE FUNCTION session_vault_release_archived(p_tenant text, p_session text, p_head_seq bigint, p_digest bytea)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  PERFORM session_vault_scope(p_tenant);
  IF NOT EXISTS (SELECT 1 FROM archives
                  WHERE tenant_id = p_tenant AND session_id = p_session AND head_seq = p_head_seq AND digest = p_digest) THEN
    RAISE EXCEPTION 'session-vault: no verified archive of this session at this head' USING ERRCODE = 'SV002';
  END IF;
  UPDATE sessions SET status = 'archived'
   WHERE tenant_id = p_tenant AND session_id = p_session AND status = 'active' AND head_seq = p_head_seq;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM set_config('vault.releasing', p_tenant || '/' || p_session, true);
  DELETE FROM events WHERE tenant_id = p_tenant AND session_id = p_session;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('vault.releasing', '', true);
  IF n <> p_head_seq THEN
    RAISE EXCEPTION 'session-vault: the hot rows do not match the archived head' USING ERRCODE = 'SV002';
  END IF;
  RETURN true;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION session_vault_restore(
  p_tenant text, p_session text,
  p_seq bigint[], p_type text[], p_at timestamptz[], p_correlation_id text[], p_idempotency_key text[],
  p_tool text[], p_prompt_tokens integer[], p_completion_tokens integer[], p_cost_usd double precision[],
  p_duration_ms bigint[], p_key_version integer[], p_ciphertext_lengths integer[],
  p_nonces bytea, p_ciphertexts bytea, p_hashes bytea)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  n integer := coalesce(array_length(p_seq, 1), 0);
BEGIN
  PERFORM session_vault_scope(p_tenant);
  IF n = 0 OR NOT (SELECT bool_and(s = i) FROM unnest(p_seq) WITH ORDINALITY AS x(s, i)) THEN
    RAISE EXCEPTION 'session-vault: restored rows must be seqs 1..n' USING ERRCODE = 'SV002';
  END IF;
  UPDATE sessions SET status = 'active'
   WHERE tenant_id = p_tenant AND session_id = p_session AND status = 'archived'
     AND head_seq = n AND head_hash = substring(p_hashes FROM (n - 1) * 32 + 1 FOR 32);
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
  RETURN true;
END
$$;
--> statement-breakpoint
-- 3. Functions are executable by PUBLIC unless revoked: only the application role may
--    call ours. session_vault_tenants sees past row-level security.
REVOKE ALL ON FUNCTION session_vault_tenants() FROM PUBLIC;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_scope(text) FROM PUBLIC;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_append(text, text, bigint, bigint[], text[], timestamptz[], text[], text[], text[],
  integer[], integer[], double precision[], bigint[], integer[], integer[], bytea, bytea, bytea, text, text) FROM PUBLIC;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_restore(text, text, bigint[], text[], timestamptz[], text[], text[], text[],
  integer[], integer[], double precision[], bigint[], integer[], integer[], bytea, bytea, bytea) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_tenants(), session_vault_scope(text) TO session_vault_app;
--> statement-breakpoint
-- 4. Durations as the vault writes them (`30d`, `7y`: retention/duration.ts) as intervals.
CREATE FUNCTION session_vault_interval(p text) RETURNS interval LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE m[2] WHEN 'h' THEN make_interval(hours => m[1]::int) WHEN 'd' THEN make_interval(days => m[1]::int)
                   WHEN 'w' THEN make_interval(weeks => m[1]::int) WHEN 'mo' THEN make_interval(months => m[1]::int)
                   WHEN 'y' THEN make_interval(years => m[1]::int) END
    FROM regexp_match(p, '^([1-9][0-9]{0,5})(h|d|w|mo|y)$') AS m
$$;
--> statement-breakpoint
-- 5. Legal holds are history: set (insert), cleared once (cleared_at/by/reason stamped),
--    never deleted or rewritten. A hold on a purged or unknown session is refused.
CREATE FUNCTION session_vault_hold_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NOT EXISTS (SELECT 1 FROM sessions WHERE tenant_id = NEW.tenant_id AND session_id = NEW.session_id AND status <> 'purged') THEN
      RAISE EXCEPTION 'session-vault: a legal hold needs a session that is not purged' USING ERRCODE = 'SV003';
    END IF;
    IF NEW.cleared_at IS NOT NULL OR NEW.cleared_by IS NOT NULL OR NEW.clear_reason IS NOT NULL THEN
      RAISE EXCEPTION 'session-vault: a legal hold starts in force' USING ERRCODE = 'SV003';
    END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.cleared_at IS NULL AND NEW.cleared_at IS NOT NULL
     AND NEW.cleared_by IS NOT NULL AND NEW.clear_reason IS NOT NULL
     AND (NEW.tenant_id, NEW.session_id, NEW.reason, NEW.set_by, NEW.set_at)
         IS NOT DISTINCT FROM (OLD.tenant_id, OLD.session_id, OLD.reason, OLD.set_by, OLD.set_at) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'session-vault: legal holds are kept (% refused)', TG_OP USING ERRCODE = 'SV003';
END
$$;
--> statement-breakpoint
CREATE TRIGGER legal_holds_guard_rows BEFORE INSERT OR UPDATE OR DELETE ON legal_holds
  FOR EACH ROW EXECUTE FUNCTION session_vault_hold_guard();
--> statement-breakpoint
CREATE TRIGGER legal_holds_append_only_truncate BEFORE TRUNCATE ON legal_holds
  FOR EACH STATEMENT EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
REVOKE DELETE ON legal_holds FROM session_vault_app;
--> statement-breakpoint
GRANT UPDATE (cleared_at, cleared_by, clear_reason) ON legal_holds TO session_vault_app;
--> statement-breakpoint
-- 6. Sessions: a purged session stays purged; under a legal hold its data key is never
--    destroyed and it is never purged; its retention floor is never lowered, and in a
--    compliance-mode tenant never lowered at all.
CREATE OR REPLACE FUNCTION session_vault_session_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'purged' AND (NEW.status <> 'purged' OR NEW.wrapped_data_key IS NOT NULL) THEN
    RAISE EXCEPTION 'session-vault: a purged session cannot change' USING ERRCODE = 'SV001';
  END IF;
  IF ((OLD.wrapped_data_key IS NOT NULL AND NEW.wrapped_data_key IS NULL) OR (OLD.status <> 'purged' AND NEW.status = 'purged'))
     AND EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant_id = OLD.tenant_id AND h.session_id = OLD.session_id AND h.cleared_at IS NULL) THEN
    RAISE EXCEPTION 'session-vault: the session is under legal hold' USING ERRCODE = 'SV003';
  END IF;
  IF OLD.retain_floor IS NOT NULL
     AND (NEW.retain_floor IS NULL OR session_vault_interval(NEW.retain_floor) < session_vault_interval(OLD.retain_floor))
     AND coalesce((SELECT mode FROM retention_policies p WHERE p.tenant_id = OLD.tenant_id), 'governance') <> 'governance' THEN
    RAISE EXCEPTION 'session-vault: the tenant is in compliance mode; retention floors are never lowered' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
-- 7. Tenant keys: a version that wraps a held session's data key is never destroyed.
CREATE FUNCTION session_vault_tenant_key_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF ((OLD.wrapped_key IS NOT NULL AND NEW.wrapped_key IS NULL) OR (OLD.state <> 'destroyed' AND NEW.state = 'destroyed'))
     AND EXISTS (SELECT 1 FROM legal_holds h JOIN sessions s ON s.tenant_id = h.tenant_id AND s.session_id = h.session_id
                  WHERE h.tenant_id = OLD.tenant_id AND h.cleared_at IS NULL AND s.tenant_key_version = OLD.version) THEN
    RAISE EXCEPTION 'session-vault: this key version protects a session under legal hold' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER tenant_keys_hold_guard BEFORE UPDATE ON tenant_keys
  FOR EACH ROW EXECUTE FUNCTION session_vault_tenant_key_guard();
--> statement-breakpoint
CREATE TRIGGER tenant_keys_no_delete BEFORE DELETE OR TRUNCATE ON tenant_keys
  FOR EACH STATEMENT EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
-- 8. A purge's tombstone: never under a hold (the session guard), never before the floor
--    the session was kept under.
CREATE FUNCTION session_vault_tombstone_floor() RETURNS trigger LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
  v_floor text;
BEGIN
  SELECT retain_floor INTO v_floor FROM sessions WHERE tenant_id = NEW.tenant_id AND session_id = NEW.session_id;
  IF v_floor IS NOT NULL AND (NEW.last_at IS NULL OR NEW.purged_at < NEW.last_at + session_vault_interval(v_floor)
                              OR NEW.due_at < NEW.last_at + session_vault_interval(v_floor)) THEN
    RAISE EXCEPTION 'session-vault: purge before the retention floor (%)', v_floor USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER tombstones_floor BEFORE INSERT ON tombstones
  FOR EACH ROW EXECUTE FUNCTION session_vault_tombstone_floor();
--> statement-breakpoint
-- 9. Retention mode: compliance is for good.
CREATE FUNCTION session_vault_policy_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.mode NOT IN ('governance', 'compliance') THEN
    RAISE EXCEPTION 'session-vault: retention mode is governance or compliance' USING ERRCODE = 'SV003';
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.mode = 'compliance' AND NEW.mode <> 'compliance' THEN
    RAISE EXCEPTION 'session-vault: compliance mode cannot be lifted' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER retention_policies_mode BEFORE INSERT OR UPDATE ON retention_policies
  FOR EACH ROW EXECUTE FUNCTION session_vault_policy_guard();
--> statement-breakpoint
CREATE TRIGGER retention_policies_no_delete BEFORE DELETE OR TRUNCATE ON retention_policies
  FOR EACH STATEMENT EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
-- 10. The access trail's signatures (src/audit/access.ts) are written with the record.
ALTER TABLE access_log ADD CONSTRAINT access_log_signed CHECK ((key_id IS NULL) = (signature IS NULL));
