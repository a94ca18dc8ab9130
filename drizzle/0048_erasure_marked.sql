-- An erasure leaves its record in the session's chain.
--
-- A session's data key is destroyed by `keys shred`, which first closes the session's
-- chain with a `key_shredded` event (who and why, in clear, signed with the head), and by
-- a purge, which writes a tombstone (0046). The operator role may change session keys
-- (rotation, rewrap, shred) and tenant key versions, and so could, in SQL, null a
-- session's wrapped key, or destroy the tenant key version still wrapping it: the content
-- erased with no marker, no reason and no trail record, inside any retention floor (only
-- a legal hold stopped it, 0015); verify named the first (key_missing) and not the second.
-- Now, for every role:
--   * a session's key is destroyed (outside a purge) only when the session's head is its
--     key_shredded marker. A marker written with database credentials alone is not
--     signed, and verify names it (unsigned_tail);
--   * a tenant key version is destroyed only when no session key it wraps is left. The
--     vault's own paths already keep to this: `keys destroy` takes a retired version,
--     which nothing depends on, and a tenant's shred shreds each session, marker first.
-- A DBA with triggers off can still do both: verify names a missing marker (key_missing),
-- and `keys check` a session key whose tenant key is gone.
CREATE FUNCTION session_vault_session_key_marked() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF NOT EXISTS (
       SELECT 1 FROM events e
        WHERE e.tenant_id = NEW.tenant_id AND e.session_id = NEW.session_id AND e.seq = NEW.head_seq AND e.type = 'key_shredded') THEN
    RAISE EXCEPTION 'session-vault: a session''s key is destroyed only under its key_shredded marker, which records who erased it and why' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_key_marked BEFORE UPDATE OF wrapped_data_key ON sessions
  FOR EACH ROW WHEN (OLD.wrapped_data_key IS NOT NULL AND NEW.wrapped_data_key IS NULL AND NEW.status IS DISTINCT FROM 'purged')
  EXECUTE FUNCTION session_vault_session_key_marked();
--> statement-breakpoint
CREATE FUNCTION session_vault_tenant_key_unused() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF EXISTS (
       SELECT 1 FROM sessions s
        WHERE s.tenant_id = OLD.tenant_id AND s.tenant_key_version = OLD.version AND s.wrapped_data_key IS NOT NULL) THEN
    RAISE EXCEPTION 'session-vault: this key version still wraps a session''s key: shred the session (its marker first) or rewrap it before destroying the version' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER tenant_keys_unused BEFORE UPDATE ON tenant_keys
  FOR EACH ROW WHEN ((OLD.wrapped_key IS NOT NULL AND NEW.wrapped_key IS NULL) OR (OLD.state IS DISTINCT FROM 'destroyed' AND NEW.state = 'destroyed'))
  EXECUTE FUNCTION session_vault_tenant_key_unused();
