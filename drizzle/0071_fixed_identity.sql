-- A row's identity does not change, and a check at commit reads the tenant it checks.
--
-- The guards find what they protect by its identity: a legal hold by its session's id, a
-- tenant's retention mode by its policy row's tenant, the sessions a tenant key version
-- wraps by its version number. The operator role may update sessions, tenant key
-- versions and policies (rotation, rewrap, archive, floors), every column of them, so with
-- its credentials a thief moved each out from under its guard:
--   * renamed a held, archived session (`held` to `x-held`; an archived session has no
--     events left in the table for the foreign key to hold it), wrote a tombstone for the
--     new name, marked it purged and destroyed its key, which no hold named, and renamed it
--     back: the hold stood over a purged session;
--   * renumbered the tenant key version wrapping a held session (1 to 99) and destroyed it
--     as wrapping no session: the held session's key could no longer be unwrapped;
--   * moved a compliance-mode tenant's policy row to a tenant of its own making, switching
--     the tenant scope inside the statement (set_config in the SET expression) so that
--     row-level security took the new tenant: with no policy row the tenant read as
--     governance, and its floors could be lowered and its sessions purged years early.
-- Now a session's tenant and id, a tenant key version's tenant and number, and a policy's
-- tenant do not change, for every role.
--
-- A check deferred to commit (0050's primary key version) read the tenant's key versions
-- under the tenant scope as it was at commit, which the role may set to another tenant
-- after its statement: it found no version at all, and a tenant's primary was stepped down
-- with no successor. It now reads the tenant it checks, whatever the scope.
CREATE FUNCTION session_vault_identity_fixed() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'session-vault: a row of % keeps its identity (tenant, id, version): the guards find what they protect by it', TG_TABLE_NAME USING ERRCODE = 'SV003';
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_identity_fixed BEFORE UPDATE OF tenant_id, session_id ON sessions
  FOR EACH ROW WHEN (NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.session_id IS DISTINCT FROM OLD.session_id)
  EXECUTE FUNCTION session_vault_identity_fixed();
--> statement-breakpoint
CREATE TRIGGER tenant_keys_identity_fixed BEFORE UPDATE OF tenant_id, version ON tenant_keys
  FOR EACH ROW WHEN (NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.version IS DISTINCT FROM OLD.version)
  EXECUTE FUNCTION session_vault_identity_fixed();
--> statement-breakpoint
CREATE TRIGGER retention_policies_identity_fixed BEFORE UPDATE OF tenant_id ON retention_policies
  FOR EACH ROW WHEN (NEW.tenant_id IS DISTINCT FROM OLD.tenant_id)
  EXECUTE FUNCTION session_vault_identity_fixed();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION session_vault_key_primary_kept() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_scope text := current_setting('vault.tenant', true);
  v_missing boolean;
BEGIN
  -- Read the tenant this row is of, not whichever the scope names at commit.
  PERFORM set_config('vault.tenant', OLD.tenant_id, true);
  v_missing := NOT EXISTS (SELECT 1 FROM tenant_keys k WHERE k.tenant_id = OLD.tenant_id AND k.state = 'primary')
               AND EXISTS (SELECT 1 FROM tenant_keys k WHERE k.tenant_id = OLD.tenant_id AND k.state <> 'destroyed');
  PERFORM set_config('vault.tenant', coalesce(v_scope, ''), true);
  IF v_missing THEN
    RAISE EXCEPTION 'session-vault: a tenant keeps a primary key version until all of its versions are destroyed: step one down only as its successor is stored (keys rotate)' USING ERRCODE = 'SV003';
  END IF;
  RETURN NULL;
END
$$;
