-- A tenant key version's state goes one way only: primary, active, retired, destroyed.
--
-- The vault moves a version through these states and never back (src/keys/lifecycle.ts:
-- `keys rotate` makes the primary active, `keys retire` an active version retired,
-- `keys destroy` and a tenant's shred destroy), and the runbook for a key suspected
-- compromised is rotate, rewrap, retire, destroy. Before this only the vault kept to it:
-- the operator role could make a version rotated away from primary again, so that every
-- new session's key was wrapped under it by the vault itself (its wrap signed like any
-- other, so verify saw nothing), or give a destroyed version its wrapped bytes back. Now,
-- for every role: a state changes only forward (primary to active, active to retired,
-- any to destroyed), a destroyed version stays destroyed with no wrapped key, and a
-- wrapped key deleted is not put back. And a tenant keeps a primary version at every
-- commit until all of its versions are destroyed: `keys rotate` steps the primary down
-- and stores the new one in one transaction, while a primary stepped down alone would
-- leave the tenant unable to create a session, or to rotate out of it. Likewise a
-- session's data key, once destroyed (a shred, a purge), does not come back: the operator
-- role could copy a session's wrapped key before a shred and write it back after, and the
-- erased content opened again (its wrap then unsigned, which verify names, but readable).
-- A DBA with triggers off can still do any of it; the sessions created under an old
-- version then show it in their rows (tenant_key_version).
CREATE FUNCTION session_vault_key_state_forward() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF (OLD.wrapped_key IS NULL AND NEW.wrapped_key IS NOT NULL)
     OR NOT (NEW.state = OLD.state OR NEW.state = 'destroyed'
             OR (OLD.state = 'primary' AND NEW.state = 'active')
             OR (OLD.state = 'active' AND NEW.state = 'retired')) THEN
    RAISE EXCEPTION 'session-vault: a tenant key version''s state goes one way only (primary, active, retired, destroyed), and a destroyed one gets no key back' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER tenant_keys_state_forward BEFORE UPDATE OF state, wrapped_key ON tenant_keys
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR (OLD.wrapped_key IS NULL AND NEW.wrapped_key IS NOT NULL))
  EXECUTE FUNCTION session_vault_key_state_forward();
--> statement-breakpoint
CREATE FUNCTION session_vault_key_primary_kept() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM tenant_keys k WHERE k.tenant_id = OLD.tenant_id AND k.state = 'primary')
     AND EXISTS (SELECT 1 FROM tenant_keys k WHERE k.tenant_id = OLD.tenant_id AND k.state <> 'destroyed') THEN
    RAISE EXCEPTION 'session-vault: a tenant keeps a primary key version until all of its versions are destroyed: step one down only as its successor is stored (keys rotate)' USING ERRCODE = 'SV003';
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- Checked at commit, so that a rotation may step the primary down before it stores the new one.
CREATE CONSTRAINT TRIGGER tenant_keys_primary_kept AFTER UPDATE OF state ON tenant_keys
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (OLD.state = 'primary' AND NEW.state <> 'primary')
  EXECUTE FUNCTION session_vault_key_primary_kept();
--> statement-breakpoint
CREATE FUNCTION session_vault_session_key_gone() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'session-vault: a destroyed session key does not come back: the session was erased' USING ERRCODE = 'SV003';
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_key_gone BEFORE UPDATE OF wrapped_data_key ON sessions
  FOR EACH ROW WHEN (OLD.wrapped_data_key IS NULL AND NEW.wrapped_data_key IS NOT NULL)
  EXECUTE FUNCTION session_vault_session_key_gone();
