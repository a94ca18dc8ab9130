-- Every key wrap is signed, and its sequence only moves forward.
--
-- The operator role may change session keys and tenant key versions (a rewrap, a master
-- rotation and a move to an HSM or KMS must), so the database cannot tell other bytes
-- written over a wrap from a rewrap. Before this, that role could erase a session (other
-- bytes over its wrapped data key, outside a hold) or a whole tenant (other bytes over a
-- tenant key version, or an earlier wrap of it under a master key since removed) with no
-- marker, no reason and no trail record, and verify, which holds no key, saw nothing.
-- Now every wrap the vault writes carries a signature by the checkpoint key over what it
-- is a wrap of, its place in that key's sequence of wraps (wrap_seq) and a hash of its
-- bytes (src/audit/key-wrap.ts); verify names a wrap no trusted key signed
-- (session_key_unsigned, tenant_key_unsigned). The signature cannot tell an earlier wrap
-- of the same key from the current one, so the database refuses a wrap's sequence going
-- back, or new bytes at the same place in it. Wraps written before this carry none
-- until `keys sign` checks that each opens and signs it. A DBA with triggers off can put
-- an earlier wrap back; `keys check` (the key holder's) names a wrap that does not open.
ALTER TABLE sessions ADD COLUMN wrap_seq integer;
--> statement-breakpoint
ALTER TABLE sessions ADD COLUMN wrap_key_id text;
--> statement-breakpoint
ALTER TABLE sessions ADD COLUMN wrap_signature bytea;
--> statement-breakpoint
ALTER TABLE sessions ADD CONSTRAINT sessions_wrap_signature_shape
  CHECK ((wrap_key_id IS NULL) = (wrap_signature IS NULL) AND (wrap_signature IS NULL OR (octet_length(wrap_signature) = 64 AND wrap_seq IS NOT NULL)));
--> statement-breakpoint
ALTER TABLE tenant_keys ADD COLUMN wrap_seq integer;
--> statement-breakpoint
ALTER TABLE tenant_keys ADD COLUMN wrap_key_id text;
--> statement-breakpoint
ALTER TABLE tenant_keys ADD COLUMN wrap_signature bytea;
--> statement-breakpoint
ALTER TABLE tenant_keys ADD CONSTRAINT tenant_keys_wrap_signature_shape
  CHECK ((wrap_key_id IS NULL) = (wrap_signature IS NULL) AND (wrap_signature IS NULL OR (octet_length(wrap_signature) = 64 AND wrap_seq IS NOT NULL)));
--> statement-breakpoint
CREATE FUNCTION session_vault_wrap_forward() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'session-vault: a key wrap''s sequence only moves forward: a new wrap takes a later place in it, and an earlier signed wrap cannot be put back' USING ERRCODE = 'SV003';
END
$$;
--> statement-breakpoint
-- Only updates naming these columns fire it: an append's update of the head does not.
CREATE TRIGGER sessions_wrap_forward BEFORE UPDATE OF wrapped_data_key, wrap_seq ON sessions
  FOR EACH ROW WHEN (OLD.wrap_seq IS NOT NULL AND (NEW.wrap_seq IS NULL OR NEW.wrap_seq < OLD.wrap_seq
    OR (NEW.wrap_seq = OLD.wrap_seq AND NEW.wrapped_data_key IS NOT NULL AND NEW.wrapped_data_key IS DISTINCT FROM OLD.wrapped_data_key)))
  EXECUTE FUNCTION session_vault_wrap_forward();
--> statement-breakpoint
CREATE TRIGGER tenant_keys_wrap_forward BEFORE UPDATE OF wrapped_key, wrap_seq ON tenant_keys
  FOR EACH ROW WHEN (OLD.wrap_seq IS NOT NULL AND (NEW.wrap_seq IS NULL OR NEW.wrap_seq < OLD.wrap_seq
    OR (NEW.wrap_seq = OLD.wrap_seq AND NEW.wrapped_key IS NOT NULL AND NEW.wrapped_key IS DISTINCT FROM OLD.wrapped_key)))
  EXECUTE FUNCTION session_vault_wrap_forward();
