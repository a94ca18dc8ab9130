-- Under a legal hold, a session's wrapped data key stays as it is.
--
-- The guards refused destroying a held session's key by setting it NULL (0015), but not by
-- writing other bytes over it, or by changing the key versions its wrapping is bound to
-- (the associated data of the wrapped key names the data key's and the tenant key's
-- version): either makes the data key unrecoverable as surely as a shred, with no shred
-- marker, and verify, which holds no key, could not see it. The operator role may write
-- those columns (a rewrap moves a session key under a new tenant key version), so the
-- database refused neither. Now, while a hold is in force, the three columns do not
-- change for any role: `keys rewrap` leaves a held session under the version it had,
-- which the tenant key guard keeps from being destroyed (src/vault/key-lifecycle.ts).
CREATE FUNCTION session_vault_held_key_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF (NEW.wrapped_data_key IS DISTINCT FROM OLD.wrapped_data_key
      OR NEW.data_key_version IS DISTINCT FROM OLD.data_key_version
      OR NEW.tenant_key_version IS DISTINCT FROM OLD.tenant_key_version)
     AND EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant_id = OLD.tenant_id AND h.session_id = OLD.session_id AND h.cleared_at IS NULL) THEN
    RAISE EXCEPTION 'session-vault: the session is under legal hold; its data key stays as it is' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_held_key_kept BEFORE UPDATE OF wrapped_data_key, data_key_version, tenant_key_version ON sessions
  FOR EACH ROW EXECUTE FUNCTION session_vault_held_key_guard();
