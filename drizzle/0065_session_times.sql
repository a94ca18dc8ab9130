-- A session's first- and last-event times within the database's clock.
--
-- Retention counts from a session's last-event time (sessions.last_at): archived when idle
-- past archive-after, purged past retain. 0037 lets it move only forward, so that the
-- agents' database role cannot have a session purged early; but forward had no end: that
-- role could set it a year, or years, ahead (or to `infinity`), and the operator's
-- retention run then found the session not due, silently, for as long as it liked (and
-- `infinity`, or a time before 1970, made the operator's `sessions` listing throw). An
-- append dates its events by the vault host's clock, so a host whose clock ran ahead did the
-- same by mistake. Now the database refuses a first- or last-event time more than 5
-- minutes past its own clock (SV005, CLOCK_AHEAD, as for a purge's tombstone in 0045) or
-- before 1970 (SV003): an append from a host whose clock runs ahead is refused, and
-- nothing of it stored. 0037's rule and this one are one trigger on an update, so an
-- append's move of the head evaluates one condition, without a function call; the
-- function only refuses. A DBA with triggers off can still set either: `verify` compares
-- it with the session's last event (`last_at_mismatch`).
DROP TRIGGER sessions_last_at_forward ON sessions;
--> statement-breakpoint
DROP FUNCTION session_vault_last_at_guard();
--> statement-breakpoint
CREATE FUNCTION session_vault_session_times_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.last_at IS NOT NULL AND (NEW.last_at IS NULL OR NEW.last_at < OLD.last_at) THEN
    RAISE EXCEPTION 'session-vault: a session''s last-event time only moves forward' USING ERRCODE = 'SV003';
  END IF;
  IF NEW.first_at > clock_timestamp() + interval '5 minutes' OR NEW.last_at > clock_timestamp() + interval '5 minutes' THEN
    RAISE EXCEPTION 'session-vault: a session''s first- and last-event times may not be more than 5 minutes past the database''s clock (a host clock ahead)' USING ERRCODE = 'SV005';
  END IF;
  RAISE EXCEPTION 'session-vault: a session''s first- and last-event times are not before 1970' USING ERRCODE = 'SV003';
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_times_guard BEFORE UPDATE OF first_at, last_at ON sessions
  FOR EACH ROW WHEN (
    (OLD.last_at IS NOT NULL AND (NEW.last_at IS NULL OR NEW.last_at < OLD.last_at))
    OR NEW.first_at > clock_timestamp() + interval '5 minutes' OR NEW.last_at > clock_timestamp() + interval '5 minutes'
    OR NEW.first_at < timestamptz '1970-01-01 00:00:00+00' OR NEW.last_at < timestamptz '1970-01-01 00:00:00+00')
  EXECUTE FUNCTION session_vault_session_times_guard();
--> statement-breakpoint
CREATE TRIGGER sessions_times_on_insert BEFORE INSERT ON sessions
  FOR EACH ROW WHEN (
    NEW.first_at > clock_timestamp() + interval '5 minutes' OR NEW.last_at > clock_timestamp() + interval '5 minutes'
    OR NEW.first_at < timestamptz '1970-01-01 00:00:00+00' OR NEW.last_at < timestamptz '1970-01-01 00:00:00+00')
  EXECUTE FUNCTION session_vault_session_times_guard();
