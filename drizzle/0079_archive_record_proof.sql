-- An archive record carries the proof of a holder of the vault's keys.
--
-- The retention role (and the operator role, its member) may insert archive records. Since
-- 0078 a record of the thief's own no longer releases anything, but it still stood at a
-- session's head: the vault's archive of that session met a record of another digest
-- and refused it (`ARCHIVE_CORRUPT`, stop 63), so one planted row kept the session hot,
-- unarchived and so never purged, until it was appended to; and `verify` could not tell
-- such a record from the vault's own. Now a record is stored only with the release proof
-- for its tenant, session, head and digest (the HMAC of 0078, which only a holder of the
-- master key makes), checked as it is inserted, by every role: a record is the vault's
-- word. Records stored before carry none (NULL).
ALTER TABLE archives ADD COLUMN proof bytea;
--> statement-breakpoint
CREATE FUNCTION session_vault_archive_proof_guard() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF NOT session_vault_release_proof_holds(NEW.tenant_id, NEW.session_id, NEW.head_seq, NEW.digest, NEW.proof) THEN
    RAISE EXCEPTION 'session-vault: an archive record needs the proof of a holder of the vault''s keys for its session, head and digest' USING ERRCODE = 'SV002';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_archive_proof_guard() FROM PUBLIC;
--> statement-breakpoint
CREATE TRIGGER archives_proof BEFORE INSERT ON archives
  FOR EACH ROW EXECUTE FUNCTION session_vault_archive_proof_guard();
