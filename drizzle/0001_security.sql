-- session-vault security migration (hand-written; drizzle-kit cannot express it).
-- 1. The application role, 2. CHECK constraints, 3. the append-only guard on events,
-- 4. row-level security scoped to `vault.tenant` (set per transaction with SET LOCAL /
-- set_config(..., true)), 5. the append and tenant-listing functions, 6. privileges.
-- docs/architecture.md and docs/threat-model.md explain each choice.

-- 1. The role the application acts as. The vault connects with any login role that is
-- a member of it and runs SET ROLE session_vault_app, so row-level security and the
-- privileges below apply even when the login role is a superuser or owns the tables.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'session_vault_app') THEN
    CREATE ROLE session_vault_app NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- created concurrently by a migration of another database on the same server
END
$$;
--> statement-breakpoint
ALTER TABLE tenants ADD CONSTRAINT tenants_id_format CHECK (tenant_id ~ '^[a-z0-9][a-z0-9._-]{0,62}$');
--> statement-breakpoint
ALTER TABLE sessions ADD CONSTRAINT sessions_id_format CHECK (session_id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$');
--> statement-breakpoint
ALTER TABLE sessions ADD CONSTRAINT sessions_status CHECK (status IN ('active', 'archived', 'purged'));
--> statement-breakpoint
ALTER TABLE sessions ADD CONSTRAINT sessions_head CHECK (head_seq >= 0 AND (head_hash IS NULL) = (head_seq = 0));
--> statement-breakpoint
ALTER TABLE tenant_keys ADD CONSTRAINT tenant_keys_state CHECK (state IN ('primary', 'active', 'retired', 'destroyed'));
--> statement-breakpoint
CREATE UNIQUE INDEX tenant_keys_one_primary ON tenant_keys (tenant_id) WHERE state = 'primary';
--> statement-breakpoint
ALTER TABLE events ADD CONSTRAINT events_seq_positive CHECK (seq >= 1);
--> statement-breakpoint
ALTER TABLE events ADD CONSTRAINT events_type CHECK (type IN ('message', 'tool_call', 'tool_result', 'state_patch', 'task', 'summary'));
--> statement-breakpoint
-- 3. Append-only: no row of events is ever updated or deleted, and the table is never
-- truncated, whoever asks. Privileges refuse it to the application role; these triggers
-- refuse it to everyone else, owner included (only disabling the trigger, which a
-- superuser can do and which verification then catches, gets around it).
CREATE FUNCTION session_vault_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'session-vault: events are append-only (% refused)', TG_OP USING ERRCODE = 'SV001';
END
$$;
--> statement-breakpoint
CREATE TRIGGER events_append_only_rows BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
CREATE TRIGGER events_append_only_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
-- 4. Row-level security: every table sees only the rows of the tenant set for the
-- current transaction. With no tenant set, current_setting(..., true) is NULL and no
-- row matches, so a query that forgets the tenant sees nothing and writes nothing.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON tenants
  USING (tenant_id = current_setting('vault.tenant', true))
  WITH CHECK (tenant_id = current_setting('vault.tenant', true));
--> statement-breakpoint
ALTER TABLE tenant_keys ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE tenant_keys FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON tenant_keys
  USING (tenant_id = current_setting('vault.tenant', true))
  WITH CHECK (tenant_id = current_setting('vault.tenant', true));
--> statement-breakpoint
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON sessions
  USING (tenant_id = current_setting('vault.tenant', true))
  WITH CHECK (tenant_id = current_setting('vault.tenant', true));
--> statement-breakpoint
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE events FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON events
  USING (tenant_id = current_setting('vault.tenant', true))
  WITH CHECK (tenant_id = current_setting('vault.tenant', true));
--> statement-breakpoint
-- 5a. Append a sealed, chained batch in one statement (one round trip, one transaction
-- when called outside one). Optimistic concurrency: the session head moves only if it
-- is still where the caller computed the chain from; otherwise nothing is written and
-- false is returned, and the caller reloads the head, re-seals and retries. The row lock
-- taken by the UPDATE serialises concurrent appenders of one session, so the chain is
-- linear. Runs as the caller (SECURITY INVOKER): row-level security applies.
-- p_events: a JSON array of rows; bytea columns as hex.
CREATE FUNCTION session_vault_append(p_tenant text, p_session text, p_expected_seq bigint, p_events jsonb)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  v_first jsonb := p_events -> 0;
  v_last jsonb := p_events -> (jsonb_array_length(p_events) - 1);
BEGIN
  PERFORM set_config('vault.tenant', p_tenant, true);
  UPDATE sessions
     SET head_seq = (v_last ->> 'seq')::bigint,
         head_hash = decode(v_last ->> 'hash', 'hex'),
         first_at = coalesce(first_at, (v_first ->> 'at')::timestamptz),
         last_at = (v_last ->> 'at')::timestamptz
   WHERE tenant_id = p_tenant AND session_id = p_session AND head_seq = p_expected_seq AND status = 'active';
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO events (tenant_id, session_id, seq, type, at, correlation_id, idempotency_key, tool,
                      prompt_tokens, completion_tokens, cost_usd, duration_ms, key_version, nonce, ciphertext, hash)
  SELECT p_tenant, p_session, (e ->> 'seq')::bigint, e ->> 'type', (e ->> 'at')::timestamptz, e ->> 'correlationId',
         e ->> 'idempotencyKey', e ->> 'tool', (e ->> 'promptTokens')::integer, (e ->> 'completionTokens')::integer,
         (e ->> 'costUsd')::double precision, (e ->> 'durationMs')::bigint, (e ->> 'keyVersion')::integer,
         decode(e ->> 'nonce', 'hex'), decode(e ->> 'ciphertext', 'hex'), decode(e ->> 'hash', 'hex')
    FROM jsonb_array_elements(p_events) AS e;
  RETURN true;
END
$$;
--> statement-breakpoint
-- 5b. The tenant ids (and nothing else) for operators' cross-tenant commands (tenant list,
-- verify all). SECURITY DEFINER so it can see past row-level security; it returns ids
-- and creation times only, never keys or content.
CREATE FUNCTION session_vault_tenants() RETURNS TABLE (tenant_id text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT tenant_id, created_at FROM tenants ORDER BY tenant_id
$$;
--> statement-breakpoint
-- 6. Privileges. The application role may read and append events, never change them.
GRANT USAGE ON SCHEMA public TO session_vault_app;
--> statement-breakpoint
GRANT SELECT, INSERT ON tenants TO session_vault_app;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON tenant_keys, sessions TO session_vault_app;
--> statement-breakpoint
REVOKE ALL ON events FROM PUBLIC;
--> statement-breakpoint
GRANT SELECT, INSERT ON events TO session_vault_app;
--> statement-breakpoint
REVOKE UPDATE, DELETE, TRUNCATE ON events FROM session_vault_app;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_append(text, text, bigint, jsonb), session_vault_tenants() TO session_vault_app;
