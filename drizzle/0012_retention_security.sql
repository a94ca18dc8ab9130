-- Retention (src/vault/archive.ts, docs/retention.md): guards for the new tables and the
-- two narrow database functions that move a session between hot storage and the archive.
--
-- 1. The append-only guard learns one exception: a DELETE of events inside
--    session_vault_release_archived, for exactly the session it is releasing. The
--    exception is keyed on a transaction-local setting that only that function sets; the
--    application role has no DELETE privilege on events, so it cannot use the setting
--    itself. Checkpoints stay (they are small, and they let `verify` check the archive
--    object against heads signed when the events were hot).
CREATE OR REPLACE FUNCTION session_vault_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'events'
     AND current_setting('vault.releasing', true) = OLD.tenant_id || '/' || OLD.session_id THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'session-vault: % rows are append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'SV001';
END
$$;
--> statement-breakpoint
-- 2. Archive records and tombstones are append-only like events (a tombstone may only be
-- stamped once with the time its archive objects were deleted); policies are tenant data.
CREATE TRIGGER archives_append_only_rows BEFORE UPDATE OR DELETE ON archives
  FOR EACH ROW EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
CREATE TRIGGER archives_append_only_truncate BEFORE TRUNCATE ON archives
  FOR EACH STATEMENT EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
CREATE FUNCTION session_vault_tombstone_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.objects_deleted_at IS NULL AND NEW.objects_deleted_at IS NOT NULL
     AND (NEW.tenant_id, NEW.session_id, NEW.head_seq, NEW.head_hash, NEW.archive_digest, NEW.last_at, NEW.due_at, NEW.purged_at, NEW.purged_by, NEW.policy)
         IS NOT DISTINCT FROM (OLD.tenant_id, OLD.session_id, OLD.head_seq, OLD.head_hash, OLD.archive_digest, OLD.last_at, OLD.due_at, OLD.purged_at, OLD.purged_by, OLD.policy) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'session-vault: tombstones are permanent (% refused)', TG_OP USING ERRCODE = 'SV001';
END
$$;
--> statement-breakpoint
CREATE TRIGGER tombstones_guard_rows BEFORE UPDATE OR DELETE ON tombstones
  FOR EACH ROW EXECUTE FUNCTION session_vault_tombstone_guard();
--> statement-breakpoint
CREATE TRIGGER tombstones_append_only_truncate BEFORE TRUNCATE ON tombstones
  FOR EACH STATEMENT EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
-- A purged session stays purged: its status and its (deleted) data key never change again.
CREATE FUNCTION session_vault_session_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'purged' AND (NEW.status <> 'purged' OR NEW.wrapped_data_key IS NOT NULL) THEN
    RAISE EXCEPTION 'session-vault: a purged session cannot change' USING ERRCODE = 'SV001';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_purged_final BEFORE UPDATE ON sessions
  FOR EACH ROW EXECUTE FUNCTION session_vault_session_guard();
--> statement-breakpoint
ALTER TABLE retention_policies ADD CONSTRAINT retention_policies_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(tenant_id);
--> statement-breakpoint
ALTER TABLE retention_policies ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE retention_policies FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON retention_policies
  USING (tenant_id = current_setting('vault.tenant', true))
  WITH CHECK (tenant_id = current_setting('vault.tenant', true));
--> statement-breakpoint
ALTER TABLE archives ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE archives FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON archives
  USING (tenant_id = current_setting('vault.tenant', true))
  WITH CHECK (tenant_id = current_setting('vault.tenant', true));
--> statement-breakpoint
ALTER TABLE tombstones ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE tombstones FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON tombstones
  USING (tenant_id = current_setting('vault.tenant', true))
  WITH CHECK (tenant_id = current_setting('vault.tenant', true));
--> statement-breakpoint
-- 3. Release: removes an archived session's hot events, only when a verified archive
-- record of exactly this session at exactly its current head exists, and only while the
-- session is still active at that head (an append that slipped in after the object was
-- written makes it return false, and nothing changes). The session keeps its row, its
-- head hash and its checkpoints; its status becomes `archived`. SECURITY DEFINER: it runs
-- as the owner, who may DELETE; the application role may not.
CREATE FUNCTION session_vault_release_archived(p_tenant text, p_session text, p_head_seq bigint, p_digest bytea)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  PERFORM set_config('vault.tenant', p_tenant, true);
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
-- 4. Restore: puts an archived session's events back, exactly the archived rows (the
-- caller verified the object's chain; this checks the rows are seqs 1..head, end at the
-- recorded head hash), and makes the session active again. Same array shape as
-- session_vault_append. Returns false, writing nothing, if the session is not archived at
-- that head. SECURITY INVOKER: the application role may insert events.
CREATE FUNCTION session_vault_restore(
  p_tenant text, p_session text,
  p_seq bigint[], p_type text[], p_at timestamptz[], p_correlation_id text[], p_idempotency_key text[],
  p_tool text[], p_prompt_tokens integer[], p_completion_tokens integer[], p_cost_usd double precision[],
  p_duration_ms bigint[], p_key_version integer[], p_ciphertext_lengths integer[],
  p_nonces bytea, p_ciphertexts bytea, p_hashes bytea)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  n integer := coalesce(array_length(p_seq, 1), 0);
BEGIN
  PERFORM set_config('vault.tenant', p_tenant, true);
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
-- 5. Privileges.
REVOKE ALL ON retention_policies, archives, tombstones FROM PUBLIC;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON retention_policies TO session_vault_app;
--> statement-breakpoint
GRANT SELECT, INSERT ON archives TO session_vault_app;
--> statement-breakpoint
GRANT SELECT, INSERT ON tombstones TO session_vault_app;
--> statement-breakpoint
GRANT UPDATE (objects_deleted_at) ON tombstones TO session_vault_app;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_release_archived(text, text, bigint, bytea) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_release_archived(text, text, bigint, bytea) TO session_vault_app;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_restore(text, text, bigint[], text[], timestamptz[], text[], text[], text[],
  integer[], integer[], double precision[], bigint[], integer[], integer[], bytea, bytea, bytea) TO session_vault_app;
