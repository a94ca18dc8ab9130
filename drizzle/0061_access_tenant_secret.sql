-- A tenant's trail secret in the digests of its access records: the v3 form.
--
-- A tenant's listing of the access trail (0059) withholds every other tenant's record and
-- shows in its place the digests of its tenant and its session, so that the tenant's
-- auditor can check that none of them is the tenant's own. Those digests were a hash of
-- the record's seq and the names alone, so the auditor could try any name against them:
-- a bank's auditor learned which withheld records were the insurer's (and when the
-- insurer's sessions were read, and which of a guessed session id). Now a record of a
-- tenant carries the tenant's trail secret, 32 random bytes, in both digests
-- (src/audit/access.ts): the vault and the tenant's auditor hold it, no other tenant's
-- auditor does. The tenant's first v3 record fixes it, and the database refuses a later
-- record of the tenant with another (a record the tenant's auditor would take for
-- another tenant's). Null for records written before this, and for the vault's own (no
-- tenant), which stay in the v2 form.
ALTER TABLE access_log ADD COLUMN tenant_secret bytea;
--> statement-breakpoint
ALTER TABLE access_log ADD CONSTRAINT access_log_tenant_secret_form CHECK (tenant_secret IS NULL OR (octet_length(tenant_secret) = 32 AND salt IS NOT NULL AND tenant_id IS NOT NULL));
--> statement-breakpoint
CREATE INDEX access_log_tenant_secret ON access_log (tenant_id, seq) WHERE tenant_secret IS NOT NULL;
--> statement-breakpoint
CREATE FUNCTION session_vault_access_tenant_secret() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  first_secret bytea;
BEGIN
  IF NEW.tenant_secret IS NULL THEN
    RETURN NEW;
  END IF;
  SELECT a.tenant_secret INTO first_secret FROM access_log a
   WHERE a.tenant_id = NEW.tenant_id AND a.tenant_secret IS NOT NULL AND a.seq < NEW.seq
   ORDER BY a.seq LIMIT 1;
  IF first_secret IS NOT NULL AND first_secret <> NEW.tenant_secret THEN
    RAISE EXCEPTION 'access record %: its tenant''s trail secret is the one its first record has', NEW.seq USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER access_log_tenant_secret_fixed BEFORE INSERT ON access_log
  FOR EACH ROW EXECUTE FUNCTION session_vault_access_tenant_secret();
--> statement-breakpoint
GRANT INSERT (tenant_secret) ON access_log TO session_vault_app;
