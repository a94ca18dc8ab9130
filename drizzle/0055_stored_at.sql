-- When the database stored each signature a key can vouch with: a checkpoint, a session's
-- key wrap, a tenant key version's wrap. By the database's clock, which no role that writes
-- them can set.
--
-- A retired signing key stays trusted so that what it signed in its period keeps
-- verifying, and a checkpoint carries only the time its signer chose, a wrap none. So
-- whoever holds a retired key's secret half (the keyring copy a rotation leaves behind, a
-- backup), a leaked tenant key version and the application role's credentials could,
-- long after the rotation, make up a whole session: a data key of their own wrapped under
-- the tenant key, the wrap signed with the retired key, events and heads dated back into
-- its period. Reads handed it out as the customer's history, `verify` passed it, and the
-- agent's next message to that session id went under the holder's key. At the end of a
-- session idle since before the rotation, they could likewise chain on a forged event and
-- head dated back into the period. Now a retired key's signature counts only where the
-- database stored it by the end of the key's period (plus the 5 minutes' grace), by this
-- column (src/audit/key-period.ts): null for rows stored before this migration, which
-- count as before.
--
-- Checkpoints are written on every append, so theirs costs no trigger: the column
-- defaults to the database's clock and the application role may insert every column but
-- it. Wraps are written once a session, and by a rewrap: a trigger stamps each write,
-- whatever time the writer gives, unless the writer is the tables' owner or a superuser
-- giving one: a data-only restore of a backup (pg_restore --data-only) keeps the times
-- stored, where a new stamp would put every wrap a retired key signed after its period.
-- Whoever is the owner can set any of them anyway (with triggers off).
ALTER TABLE checkpoints ADD COLUMN stored_at timestamptz;
--> statement-breakpoint
ALTER TABLE checkpoints ALTER COLUMN stored_at SET DEFAULT clock_timestamp();
--> statement-breakpoint
REVOKE INSERT ON checkpoints FROM session_vault_app;
--> statement-breakpoint
GRANT INSERT (tenant_id, session_id, seq, key_id, hash, signed_at, note) ON checkpoints TO session_vault_app;
--> statement-breakpoint
-- Whether the current role may write a storage time of its own (a restore): the owner of
-- the table, or a superuser; never one of the vault's roles.
CREATE FUNCTION session_vault_may_restore_stamps(p_table oid) RETURNS boolean LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = current_user AND r.rolsuper)
      OR EXISTS (SELECT 1 FROM pg_class c JOIN pg_roles o ON o.oid = c.relowner WHERE c.oid = p_table AND o.rolname = current_user)
$$;
--> statement-breakpoint
ALTER TABLE sessions ADD COLUMN wrap_stored_at timestamptz;
--> statement-breakpoint
ALTER TABLE tenant_keys ADD COLUMN wrap_stored_at timestamptz;
--> statement-breakpoint
CREATE FUNCTION session_vault_wrap_stamp() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF NEW.wrap_stored_at IS NULL OR NOT session_vault_may_restore_stamps(TG_RELID) THEN
    NEW.wrap_stored_at := clock_timestamp();
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_wrap_stamp BEFORE INSERT OR UPDATE OF wrapped_data_key, wrap_seq, wrap_key_id, wrap_signature, wrap_stored_at ON sessions
  FOR EACH ROW EXECUTE FUNCTION session_vault_wrap_stamp();
--> statement-breakpoint
CREATE TRIGGER tenant_keys_wrap_stamp BEFORE INSERT OR UPDATE OF wrapped_key, wrap_seq, wrap_key_id, wrap_signature, wrap_stored_at ON tenant_keys
  FOR EACH ROW EXECUTE FUNCTION session_vault_wrap_stamp();
