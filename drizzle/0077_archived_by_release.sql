-- A session becomes archived only through the release function.
--
-- The status guard (0040, 0044) let the retention role, and the operator role its
-- member, set any session's status: an archived session should hold no rows (the release
-- function deletes them as it archives), and 0075's clearing function deletes every row
-- an archived session has in the table, taking them for rows planted by hand. With the
-- retention job's database credentials alone (no keyring, no access to the archive
-- store), a thief set an active session's status to archived in one UPDATE and called
-- the clearing function: every event of the session was deleted, with no archive record,
-- no object, no hold checked; or, without the second step, left it archived with no
-- object, so that neither a read nor a restore could reach its events. Now, for every
-- role, a session moves from active to archived only inside session_vault_release_archived
-- (which requires a verified archive record at its head, refuses a held session and
-- deletes exactly its head's rows), and a session is never inserted but active; the
-- clearing function also requires an archive record at the session's head.
CREATE OR REPLACE FUNCTION session_vault_status_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_stack text;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
    RETURN NEW;
  END IF;
  IF pg_has_role(current_user, 'session_vault_app', 'USAGE') AND NOT pg_has_role(current_user, 'session_vault_retention', 'USAGE')
     AND NOT (TG_OP = 'INSERT' AND NEW.status = 'active')
     AND NOT (TG_OP = 'UPDATE' AND OLD.status = 'archived' AND NEW.status = 'active') THEN
    RAISE EXCEPTION 'session-vault: only the retention or operator role archives or purges a session' USING ERRCODE = 'SV003';
  END IF;
  IF TG_OP = 'INSERT' AND NEW.status IS DISTINCT FROM 'active' THEN
    RAISE EXCEPTION 'session-vault: a new session is active' USING ERRCODE = 'SV003';
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.status = 'archived' THEN
    GET DIAGNOSTICS v_stack = PG_CONTEXT;
    -- The whole stack, anchored: this trigger, the release function's one UPDATE, the
    -- release function called from the top level (a DO block or another function adds a
    -- frame of its own and fails the match).
    IF v_stack !~ ('^PL/pgSQL function session_vault_status_guard\(\) line \d+ at GET DIAGNOSTICS\n'
                   'SQL statement "UPDATE sessions SET status = ''archived''\n'
                   '   WHERE tenant_id = p_tenant AND session_id = p_session AND status = ''active'' AND head_seq = p_head_seq"\n'
                   'PL/pgSQL function (public\.)?session_vault_release_archived\(text,text,bigint,bytea\) line \d+ at SQL statement$') THEN
      RAISE EXCEPTION 'session-vault: a session is archived only by the release function, with its archive recorded' USING ERRCODE = 'SV003';
    END IF;
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION session_vault_clear_stray_events(p_tenant text, p_session text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  PERFORM session_vault_scope(p_tenant);
  PERFORM 1 FROM sessions s
    WHERE s.tenant_id = p_tenant AND s.session_id = p_session AND s.status = 'archived'
      AND EXISTS (SELECT 1 FROM archives a WHERE a.tenant_id = s.tenant_id AND a.session_id = s.session_id AND a.head_seq = s.head_seq)
    FOR UPDATE OF s;
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
