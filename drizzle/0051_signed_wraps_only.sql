-- A tenant whose key wraps are all signed keeps them so, and the vault uses no other.
--
-- Since 0049 verify names a wrap no trusted key signed, but nothing refused one: whoever
-- held a tenant key version (leaked) and the application role's credentials could store a
-- session row, under an id an agent will use, with a data key of their choosing wrapped
-- under that version. The vault opened it, appended the customer's content to it, and the
-- holder read it. A vault cannot refuse unsigned wraps outright, as sessions written before
-- 0049 or with signing off carry none until `keys check --sign` signs them. So each tenant
-- says whether all of its wraps are signed (wraps_signed): set when a vault that signs
-- creates it, or by `keys check --sign` once it has signed every wrap of an older one, and
-- never cleared. From then on, for every role, a wrap of the tenant's (a session's data key,
-- a tenant key version) is stored only with a signature, and the vault opens no key whose
-- wrap no trusted key signed (WRAP_UNSIGNED); the database cannot check an Ed25519
-- signature, the vault does. Setting it is refused while the tenant holds an unsigned wrap;
-- the tenant's row is locked both ways (this check, and every unsigned wrap's write), so a
-- wrap written meanwhile, at any isolation level, is seen or refused.
ALTER TABLE tenants ADD COLUMN wraps_signed boolean NOT NULL DEFAULT false;
--> statement-breakpoint
CREATE FUNCTION session_vault_wraps_signed_set() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF OLD.wraps_signed AND NOT NEW.wraps_signed THEN
    RAISE EXCEPTION 'session-vault: a tenant whose key wraps are all signed keeps them so' USING ERRCODE = 'SV003';
  END IF;
  IF NEW.wraps_signed AND NOT OLD.wraps_signed AND (
       EXISTS (SELECT 1 FROM sessions s WHERE s.tenant_id = NEW.tenant_id AND s.wrapped_data_key IS NOT NULL AND s.wrap_signature IS NULL)
       OR EXISTS (SELECT 1 FROM tenant_keys k WHERE k.tenant_id = NEW.tenant_id AND k.wrapped_key IS NOT NULL AND k.wrap_signature IS NULL)) THEN
    RAISE EXCEPTION 'session-vault: the tenant still holds a key wrap no signing key signed: run keys check --sign' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER tenants_wraps_signed BEFORE UPDATE OF wraps_signed ON tenants
  FOR EACH ROW WHEN (OLD.wraps_signed IS DISTINCT FROM NEW.wraps_signed)
  EXECUTE FUNCTION session_vault_wraps_signed_set();
--> statement-breakpoint
-- Whether the tenant's wraps must be signed, its row locked until the transaction ends, so
-- that the setting cannot be made meanwhile. SECURITY DEFINER: the roles that write wraps may
-- not update the tenants table, which FOR SHARE needs; row-level security still scopes it.
CREATE FUNCTION session_vault_wraps_signed_locked(p_tenant text) RETURNS boolean LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT wraps_signed FROM tenants WHERE tenant_id = p_tenant FOR SHARE
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_wraps_signed_locked(text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_wraps_signed_locked(text) TO session_vault_app;
--> statement-breakpoint
CREATE FUNCTION session_vault_wrap_unsigned() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF session_vault_wraps_signed_locked(NEW.tenant_id) IS TRUE THEN
    RAISE EXCEPTION 'session-vault: the tenant''s key wraps are all signed: a wrap is stored only with its signature' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_wrap_unsigned BEFORE INSERT OR UPDATE OF wrapped_data_key, wrap_signature ON sessions
  FOR EACH ROW WHEN (NEW.wrapped_data_key IS NOT NULL AND NEW.wrap_signature IS NULL)
  EXECUTE FUNCTION session_vault_wrap_unsigned();
--> statement-breakpoint
CREATE TRIGGER tenant_keys_wrap_unsigned BEFORE INSERT OR UPDATE OF wrapped_key, wrap_signature ON tenant_keys
  FOR EACH ROW WHEN (NEW.wrapped_key IS NOT NULL AND NEW.wrap_signature IS NULL)
  EXECUTE FUNCTION session_vault_wrap_unsigned();
--> statement-breakpoint
GRANT UPDATE (wraps_signed) ON tenants TO session_vault_operator;
