-- The session guard (purged is final; no key destroyed and no purge under a legal hold;
-- compliance floors never lowered) fires only for updates that name a column it guards.
-- Every append updates the session's head, and running the guard there cost half of the
-- append function's time. An update that changes status, the data key or the floor must
-- name the column (or have a BEFORE trigger change it), and then the guard fires.
DROP TRIGGER sessions_purged_final ON sessions;
--> statement-breakpoint
CREATE TRIGGER sessions_purged_final BEFORE UPDATE OF status, wrapped_data_key, retain_floor ON sessions
  FOR EACH ROW EXECUTE FUNCTION session_vault_session_guard();
