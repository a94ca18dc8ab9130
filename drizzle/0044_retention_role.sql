-- The retention role: what the retention job needs, apart from the rest of administration.
--
-- Since 0040 the retention job has run as the operator role, and a scheduled job's
-- credentials are the most exposed an operator has. With them a thief could also shorten
-- policies and lower floors, destroy or write over keys, issue tokens and create
-- tenants. Now session_vault_retention archives (archive records, the release function),
-- purges (the tombstone, the session's status and deleted key, its snapshots) and
-- restores, and nothing else; the floors and holds the guards hold a purge to are not its
-- to change. session_vault_operator is a member of it and keeps all of it. A login granted
-- it alone acts as it by default (src/store/layout.ts, actingRole).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'session_vault_retention') THEN
    CREATE ROLE session_vault_retention NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- created concurrently by a migration of another database on the same server
END
$$;
--> statement-breakpoint
GRANT session_vault_app TO session_vault_retention;
--> statement-breakpoint
GRANT session_vault_retention TO session_vault_operator;
--> statement-breakpoint
REVOKE INSERT ON archives FROM session_vault_operator;
--> statement-breakpoint
GRANT INSERT ON archives TO session_vault_retention;
--> statement-breakpoint
REVOKE INSERT, UPDATE ON tombstones FROM session_vault_operator;
--> statement-breakpoint
GRANT INSERT, UPDATE (objects_deleted_at) ON tombstones TO session_vault_retention;
--> statement-breakpoint
REVOKE EXECUTE ON FUNCTION session_vault_release_archived(text, text, bigint, bytea) FROM session_vault_operator;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_release_archived(text, text, bigint, bytea) TO session_vault_retention;
--> statement-breakpoint
REVOKE DELETE ON snapshots FROM session_vault_operator;
--> statement-breakpoint
GRANT DELETE ON snapshots TO session_vault_retention;
--> statement-breakpoint
-- A purge deletes the session's data key; a trigger below keeps the role to that.
GRANT UPDATE (wrapped_data_key) ON sessions TO session_vault_retention;
--> statement-breakpoint
-- A session's status, as a role that may not archive or purge (the application and legal
-- roles): a new session is active, and an archived one becomes active again when appended
-- to. The retention role (and so the operator role, its member) may also archive and purge.
CREATE OR REPLACE FUNCTION session_vault_status_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
    RETURN NEW;
  END IF;
  IF pg_has_role(current_user, 'session_vault_app', 'USAGE') AND NOT pg_has_role(current_user, 'session_vault_retention', 'USAGE')
     AND NOT (TG_OP = 'INSERT' AND NEW.status = 'active')
     AND NOT (TG_OP = 'UPDATE' AND OLD.status = 'archived' AND NEW.status = 'active') THEN
    RAISE EXCEPTION 'session-vault: only the retention or operator role archives or purges a session' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
-- A session's data key, as the retention role: deleted only by the purge of an archived
-- session (status purged in the same statement), never rewrapped, replaced or shredded
-- on its own, which are the operator's (key rotation, shred).
CREATE FUNCTION session_vault_key_by_role_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF pg_has_role(current_user, 'session_vault_app', 'USAGE') AND NOT pg_has_role(current_user, 'session_vault_operator', 'USAGE')
     AND NOT (NEW.wrapped_data_key IS NULL AND OLD.status = 'archived' AND NEW.status = 'purged') THEN
    RAISE EXCEPTION 'session-vault: only the operator role changes a session''s key; the retention role deletes it only by purging' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_key_by_role BEFORE UPDATE OF wrapped_data_key ON sessions
  FOR EACH ROW WHEN (NEW.wrapped_data_key IS DISTINCT FROM OLD.wrapped_data_key)
  EXECUTE FUNCTION session_vault_key_by_role_guard();
