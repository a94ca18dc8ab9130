-- An archived session becomes active again only with its events back in the table.
-- Since 0040 the application role may move a session's status from archived to active
-- (session_vault_restore, when an archived session is appended to), and nothing else;
-- but it could do so by hand, without the events, leaving an active session whose events
-- are only in the archive: reads fail and the next append writes on top of a hole. Checked
-- at commit (the restore function moves the status first and inserts the events after),
-- for every role: the session's head event, with the head's hash, must be in `events`.
CREATE FUNCTION session_vault_active_head_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF NEW.status = 'active' AND NEW.head_seq > 0 AND NOT EXISTS (
       SELECT 1 FROM events e
        WHERE e.tenant_id = NEW.tenant_id AND e.session_id = NEW.session_id AND e.seq = NEW.head_seq AND e.hash = NEW.head_hash) THEN
    RAISE EXCEPTION 'session-vault: a session becomes active again only with its events restored' USING ERRCODE = 'SV003';
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER sessions_active_head_present AFTER UPDATE OF status ON sessions
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (OLD.status = 'archived' AND NEW.status = 'active')
  EXECUTE FUNCTION session_vault_active_head_guard();
