-- A held session's events stay in the database, where the guards of its hold apply.
--
-- The release function deletes a session's events once an archive record names the
-- session at its head with the object's digest; the database cannot see the archive
-- store, so it takes the record's word that a verified object exists. With the retention
-- job's credentials (or the operator's), a thief inserted such a record for a session
-- under legal hold, with a digest of their own and no object behind it, and released the
-- session: its events were deleted, and with them the evidence the hold kept (`verify`
-- named the session `archive_missing`; nothing refused it). Now the release changes
-- nothing for a session with a hold in force (it returns false, as for a session that
-- moved on meanwhile), so a held session stays hot until its hold is cleared; the vault
-- does not archive one (src/retention/policy.ts, src/vault/archive.ts). A session
-- archived before its hold was set stays archived: its object is the archive store's to
-- keep (docs/retention.md, "Legal holds").
CREATE OR REPLACE FUNCTION session_vault_release_archived(p_tenant text, p_session text, p_head_seq bigint, p_digest bytea)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  PERFORM session_vault_scope(p_tenant);
  IF NOT EXISTS (SELECT 1 FROM archives
                  WHERE tenant_id = p_tenant AND session_id = p_session AND head_seq = p_head_seq AND digest = p_digest) THEN
    RAISE EXCEPTION 'session-vault: no verified archive of this session at this head' USING ERRCODE = 'SV002';
  END IF;
  IF EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant_id = p_tenant AND h.session_id = p_session AND h.cleared_at IS NULL) THEN
    RETURN false;
  END IF;
  UPDATE sessions SET status = 'archived'
   WHERE tenant_id = p_tenant AND session_id = p_session AND status = 'active' AND head_seq = p_head_seq;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM set_config('vault.releasing', p_tenant || '/' || p_session, true);
  DELETE FROM events WHERE tenant_id = p_tenant AND session_id = p_session;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('vault.releasing', '', true);
  IF n <> p_head_seq THEN
    RAISE EXCEPTION 'session-vault: the hot rows do not match the archived head' USING ERRCODE = 'SV002';
  END IF;
  RETURN true;
END
$$;
