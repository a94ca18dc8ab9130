-- The operator role: what administers a vault, apart from what runs the agent.
--
-- Before this, the application role could do everything the vault does: the agent's
-- database login could lift a legal hold, shorten retention, destroy keys, archive and
-- purge sessions, and issue API tokens. The trail and verify named it afterwards; the
-- database did not refuse it. Now the application role appends, reads, opens sessions,
-- writes snapshots and its access records, and brings an archived session back when it
-- is appended to; nothing else. Its member, session_vault_operator, may also create
-- tenants, change tenant keys, holds, retention policies and floors, archive, purge and
-- shred, and issue or revoke tokens. Grant the agent's login session_vault_app only, and
-- the operators' (or the retention job's) session_vault_operator (docs/operations.md).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'session_vault_operator') THEN
    CREATE ROLE session_vault_operator NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- created concurrently by a migration of another database on the same server
END
$$;
--> statement-breakpoint
-- Everything the application role may do, the operator role may (row-level security is the same for both).
GRANT session_vault_app TO session_vault_operator;
--> statement-breakpoint
-- Tenants and their keys: created, rotated, rewrapped and destroyed by operators only.
REVOKE INSERT, UPDATE ON tenants, tenant_keys FROM session_vault_app;
--> statement-breakpoint
GRANT INSERT ON tenants TO session_vault_operator;
--> statement-breakpoint
GRANT INSERT, UPDATE ON tenant_keys TO session_vault_operator;
--> statement-breakpoint
-- Sessions: the application role moves heads and times (appends) and the status (a
-- trigger below allows it archived -> active only); a session's key (shred, rewrap) and
-- retention floor change by operators only.
REVOKE UPDATE ON sessions FROM session_vault_app;
--> statement-breakpoint
GRANT UPDATE (status, head_seq, head_hash, first_at, last_at) ON sessions TO session_vault_app;
--> statement-breakpoint
GRANT UPDATE ON sessions TO session_vault_operator;
--> statement-breakpoint
REVOKE INSERT, UPDATE ON legal_holds FROM session_vault_app;
--> statement-breakpoint
GRANT INSERT, UPDATE (cleared_at, cleared_by, clear_reason) ON legal_holds TO session_vault_operator;
--> statement-breakpoint
REVOKE INSERT, UPDATE ON retention_policies FROM session_vault_app;
--> statement-breakpoint
GRANT INSERT, UPDATE ON retention_policies TO session_vault_operator;
--> statement-breakpoint
REVOKE INSERT ON archives FROM session_vault_app;
--> statement-breakpoint
GRANT INSERT ON archives TO session_vault_operator;
--> statement-breakpoint
REVOKE INSERT, UPDATE ON tombstones FROM session_vault_app;
--> statement-breakpoint
GRANT INSERT, UPDATE (objects_deleted_at) ON tombstones TO session_vault_operator;
--> statement-breakpoint
-- Releasing an archived session's events from the database: the retention run's.
REVOKE EXECUTE ON FUNCTION session_vault_release_archived(text, text, bigint, bytea) FROM session_vault_app;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_release_archived(text, text, bigint, bytea) TO session_vault_operator;
--> statement-breakpoint
-- Snapshots are written by reads; they go with their session's key or purge.
REVOKE DELETE ON snapshots FROM session_vault_app;
--> statement-breakpoint
GRANT DELETE ON snapshots TO session_vault_operator;
--> statement-breakpoint
REVOKE INSERT, UPDATE ON api_tokens FROM session_vault_app;
--> statement-breakpoint
GRANT INSERT, UPDATE (revoked_at, revoked_by) ON api_tokens TO session_vault_operator;
--> statement-breakpoint
-- A session's status, as the application role: a new session is active, and an archived
-- one becomes active again when appended to (session_vault_restore); archiving and
-- purging are the operator's. "As the application role": with its privileges and not the
-- operator's (a login that inherits session_vault_app is held the same); the tables'
-- owner, and the release function running as it, are not.
CREATE FUNCTION session_vault_status_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
    RETURN NEW;
  END IF;
  IF pg_has_role(current_user, 'session_vault_app', 'USAGE') AND NOT pg_has_role(current_user, 'session_vault_operator', 'USAGE')
     AND NOT (TG_OP = 'INSERT' AND NEW.status = 'active')
     AND NOT (TG_OP = 'UPDATE' AND OLD.status = 'archived' AND NEW.status = 'active') THEN
    RAISE EXCEPTION 'session-vault: only the operator role archives or purges a session' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_status_by_role BEFORE INSERT OR UPDATE OF status ON sessions
  FOR EACH ROW EXECUTE FUNCTION session_vault_status_guard();
