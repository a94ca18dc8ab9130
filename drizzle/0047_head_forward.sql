-- A session's head only moves forward, to a new hash.
--
-- The application role moves a session's head on every append (sessions.head_seq,
-- head_hash), and could set it by hand too: back to an earlier event, so that every
-- later append collides with the events already stored and fails (APPEND_CONTENDED after
-- its retries), or to another hash at the same seq, so that the next append chains onto
-- a head that is not its last event's. The vault never does either: an append moves the
-- head forward to the hash of the event it stores at the new seq, and archiving,
-- restoring, purging and shredding leave it or move it forward. As in 0037, the
-- trigger's condition is evaluated without a function call, so moving the head forward
-- on every append costs an expression; the function only refuses. A DBA with triggers
-- off can still move it: reads and verify compare it with the last event (head_mismatch,
-- missing_tail).
CREATE FUNCTION session_vault_head_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'session-vault: a session''s head only moves forward, to the event appended at it' USING ERRCODE = 'SV003';
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_head_forward BEFORE UPDATE OF head_seq, head_hash ON sessions
  FOR EACH ROW WHEN (NEW.head_seq < OLD.head_seq OR (NEW.head_seq = OLD.head_seq AND NEW.head_hash IS DISTINCT FROM OLD.head_hash))
  EXECUTE FUNCTION session_vault_head_guard();
