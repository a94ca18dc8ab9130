-- A restore clears the rows an archived session should not have.
--
-- An archived session's events are in its archive object: the table holds none of them
-- (the release function deletes them in the transaction that archives the session). The
-- application role may insert into events (it appends), and nothing stopped it inserting
-- a row for an archived session. With the agents' database credentials alone, a thief
-- planted one row of its own in an archived session: every restore of it then failed on a
-- duplicate key, `hold set`'s and the retention run's included, so a session archived
-- before its legal hold could never be brought back under it, the held evidence kept by
-- the archive store alone; `verify` saw nothing. Now a restore first deletes whatever
-- rows an archived session has in the table, none of which can be its own, through this
-- function of the owner's, which deletes only an archived session's rows; `verify` names
-- such rows (`stray_events`).
CREATE FUNCTION session_vault_clear_stray_events(p_tenant text, p_session text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  PERFORM session_vault_scope(p_tenant);
  PERFORM 1 FROM sessions WHERE tenant_id = p_tenant AND session_id = p_session AND status = 'archived' FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  PERFORM set_config('vault.releasing', p_tenant || '/' || p_session, true);
  DELETE FROM events WHERE tenant_id = p_tenant AND session_id = p_session;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('vault.releasing', '', true);
  RETURN n;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_clear_stray_events(text, text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_clear_stray_events(text, text) TO session_vault_app;
--> statement-breakpoint
-- The DELETE guard (0030) lets through the one DELETE of the release function and, now,
-- the same DELETE of the function above, each called from the top level with the flag set.
CREATE OR REPLACE FUNCTION session_vault_refuse_event_delete() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_stack text;
BEGIN
  IF coalesce(current_setting('vault.releasing', true), '') <> '' THEN
    GET DIAGNOSTICS v_stack = PG_CONTEXT;
    -- The whole stack, anchored: this trigger, the one DELETE, one of the two functions
    -- called from the top level. A DELETE in a DO block or another function adds a frame
    -- of its own and fails the match.
    IF v_stack ~ ('^PL/pgSQL function session_vault_refuse_event_delete\(\) line \d+ at GET DIAGNOSTICS\n'
                  'SQL statement "DELETE FROM events WHERE tenant_id = p_tenant AND session_id = p_session"\n'
                  'PL/pgSQL function (public\.)?session_vault_(release_archived\(text,text,bigint,bytea\)|clear_stray_events\(text,text\)) line \d+ at SQL statement$') THEN
      RETURN NULL;
    END IF;
  END IF;
  RAISE EXCEPTION 'session-vault: events rows are append-only (DELETE refused)' USING ERRCODE = 'SV001';
END
$$;
