-- Releasing an archived session's hot rows cost about 0.56 ms of server time a session in
-- a retention run of 3-event sessions (pg_stat_user_functions), most of it in two guards
-- that did the same work again and again:
--
-- 1. The append-only guard read the PL/pgSQL call stack and matched it for every event
--    deleted (about 0.1 ms a row). Which statement may delete events does not change from
--    row to row, so the check moves to a statement-level trigger that runs once for each
--    DELETE on events, and the row-level trigger keeps refusing every UPDATE. The rule is
--    the one 0015 set: events are deleted only by the one DELETE inside
--    session_vault_release_archived (which deletes its own session, after checking the
--    verified archive record at that head), called from the top level, with the release
--    flag set. A DELETE anywhere else (by hand, from a DO block or another function, with
--    or without the flag) is refused, now even when it matches no row.
--
-- 2. The session guard turned both retention floors into intervals on every guarded
--    update of a session with a floor (archiving one sets its status): 0.15 ms a session.
--    It now compares floors only when the update changes the floor; an unchanged floor is
--    never lower.
--
-- Both functions resolve their tables in the vault's schema whatever the caller's path,
-- as 0018 made every PL/pgSQL function of the vault do (the layout names the schema).
CREATE FUNCTION session_vault_refuse_event_delete() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_stack text;
BEGIN
  IF coalesce(current_setting('vault.releasing', true), '') <> '' THEN
    GET DIAGNOSTICS v_stack = PG_CONTEXT;
    -- The whole stack, anchored: this trigger, the release function's one DELETE, the
    -- release function called from the top level. A DELETE in a DO block or another
    -- function adds a frame of its own and fails the match.
    IF v_stack ~ ('^PL/pgSQL function session_vault_refuse_event_delete\(\) line \d+ at GET DIAGNOSTICS\n'
                  'SQL statement "DELETE FROM events WHERE tenant_id = p_tenant AND session_id = p_session"\n'
                  'PL/pgSQL function (public\.)?session_vault_release_archived\(text,text,bigint,bytea\) line \d+ at SQL statement$') THEN
      RETURN NULL;
    END IF;
  END IF;
  RAISE EXCEPTION 'session-vault: events rows are append-only (DELETE refused)' USING ERRCODE = 'SV001';
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_refuse_event_delete() FROM PUBLIC;
--> statement-breakpoint
DROP TRIGGER events_append_only_rows ON events;
--> statement-breakpoint
CREATE TRIGGER events_append_only_rows BEFORE UPDATE ON events
  FOR EACH ROW EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
CREATE TRIGGER events_delete_only_by_release BEFORE DELETE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION session_vault_refuse_event_delete();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION session_vault_session_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF OLD.status = 'purged' AND (NEW.status <> 'purged' OR NEW.wrapped_data_key IS NOT NULL) THEN
    RAISE EXCEPTION 'session-vault: a purged session cannot change' USING ERRCODE = 'SV001';
  END IF;
  IF ((OLD.wrapped_data_key IS NOT NULL AND NEW.wrapped_data_key IS NULL) OR (OLD.status <> 'purged' AND NEW.status = 'purged'))
     AND EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant_id = OLD.tenant_id AND h.session_id = OLD.session_id AND h.cleared_at IS NULL) THEN
    RAISE EXCEPTION 'session-vault: the session is under legal hold' USING ERRCODE = 'SV003';
  END IF;
  IF OLD.retain_floor IS NOT NULL AND NEW.retain_floor IS DISTINCT FROM OLD.retain_floor
     AND (NEW.retain_floor IS NULL OR session_vault_interval(NEW.retain_floor) < session_vault_interval(OLD.retain_floor))
     AND coalesce((SELECT mode FROM retention_policies p WHERE p.tenant_id = OLD.tenant_id), 'governance') <> 'governance' THEN
    RAISE EXCEPTION 'session-vault: the tenant is in compliance mode; retention floors are never lowered' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
