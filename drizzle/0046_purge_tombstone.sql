-- A session is purged only with its tombstone.
--
-- The tombstone's guards (0015, 0045) hold a purge to the session's floor, to any hold
-- and to the database's clock, but they run when a tombstone is written. The retention
-- role may move an archived session to purged and delete its data key in the same
-- statement (0044), and could do that with no tombstone at all: the key, and with it
-- every event in the archive, destroyed inside the floor, with no guard consulted. Now,
-- checked at commit (the vault moves the status first and writes the tombstone after, in
-- one transaction), for every role: a session that becomes purged has a tombstone at its
-- head. A DBA with triggers off can still purge without one: verify names it
-- (tombstone_missing).
CREATE FUNCTION session_vault_purged_tombstone_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF NOT EXISTS (
       SELECT 1 FROM tombstones t
        WHERE t.tenant_id = NEW.tenant_id AND t.session_id = NEW.session_id AND t.head_seq = NEW.head_seq) THEN
    RAISE EXCEPTION 'session-vault: a session is purged only with its tombstone, which holds the purge to its floor' USING ERRCODE = 'SV003';
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER sessions_purged_tombstone AFTER UPDATE OF status ON sessions
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.status = 'purged' AND OLD.status IS DISTINCT FROM 'purged')
  EXECUTE FUNCTION session_vault_purged_tombstone_guard();
