-- A snapshot is stored only on its session's chain, and signed where the tenant's writers sign.
--
-- The application role may store snapshots (the vault writes them as it), and before this
-- the database took any row: one with no key at all, at a seq far past the head with a
-- made-up hash and signature, was the nearest snapshot of every later read of the session
-- (session_vault_state_read_signed takes the highest seq), so every read of a fresh
-- process passed it over and folded the session from its first event, for good: the
-- session's cost grew with its length again. Now a snapshot is refused unless the event
-- at its seq exists with the head hash and time the snapshot names, so one not on the
-- chain cannot be stored and one on it is passed by the vault's next snapshot.
--
-- The database cannot check an Ed25519 signature, so a made-up one on the chain is still
-- stored: the vault does not start from it, and since this `verify` names it
-- (snapshot_unsigned). In a tenant whose wraps are all signed (0051: written by vaults
-- that sign), a snapshot is stored only with a signature, so a forged one cannot hide
-- from verify by carrying none. Snapshots stored before this are left as they are.
CREATE FUNCTION session_vault_snapshot_on_chain() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM events e
                 WHERE e.tenant_id = NEW.tenant_id AND e.session_id = NEW.session_id AND e.seq = NEW.seq
                   AND e.hash = NEW.head_hash AND e.at = NEW.at) THEN
    RAISE EXCEPTION 'session-vault: a snapshot is stored only at an event of its session, with that event''s hash and time' USING ERRCODE = 'SV003';
  END IF;
  IF NEW.signature IS NULL AND (SELECT t.wraps_signed FROM tenants t WHERE t.tenant_id = NEW.tenant_id) IS TRUE THEN
    RAISE EXCEPTION 'session-vault: the tenant is written by vaults that sign: a snapshot is stored only with its signature' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER snapshots_on_chain BEFORE INSERT ON snapshots
  FOR EACH ROW EXECUTE FUNCTION session_vault_snapshot_on_chain();
