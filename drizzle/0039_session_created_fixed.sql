-- A session's creation time (sessions.created_at) never changes. What retention a session
-- was promised is the tenant's policy when it was created (the signed access trail records
-- every policy change: src/retention/recorded-policy.ts), and verify, purge and shred hold
-- the session's floor to it. Before this, the application role could move the time into a
-- period whose policy was shorter. The vault writes it once, when it opens the session.
-- A DBA with triggers off can still move it (docs/threat-model.md).
CREATE FUNCTION session_vault_created_at_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'session-vault: a session''s creation time never changes' USING ERRCODE = 'SV003';
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_created_at_fixed BEFORE UPDATE OF created_at ON sessions
  FOR EACH ROW WHEN (NEW.created_at IS DISTINCT FROM OLD.created_at)
  EXECUTE FUNCTION session_vault_created_at_guard();
