-- A session's last-event time (sessions.last_at) only moves forward. Retention counts from
-- it (a session is due for purging `retain` after its last event), and the vault's own
-- retention run acts on it. Before this, the application role, whose credentials a thief
-- may hold, could set it years back, and the operator's next run purged the session as due,
-- tombstone and all. The vault itself never moves it back: an event's time is never before
-- the session's last (vault/append.ts), and archiving, restoring and purging leave it.
-- The trigger's condition is evaluated without a function call, so moving the head on
-- every append costs an expression, not a PL/pgSQL call; the function only refuses.
-- A DBA with triggers off can still move it: verify compares it with the session's last
-- event, and a purged session's tombstone with the signed checkpoint of its head.
CREATE FUNCTION session_vault_last_at_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'session-vault: a session''s last-event time only moves forward' USING ERRCODE = 'SV003';
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_last_at_forward BEFORE UPDATE OF last_at ON sessions
  FOR EACH ROW WHEN (OLD.last_at IS NOT NULL AND (NEW.last_at IS NULL OR NEW.last_at < OLD.last_at))
  EXECUTE FUNCTION session_vault_last_at_guard();
