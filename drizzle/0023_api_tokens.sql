-- API tokens of the HTTP service (src/tokens, docs/service.md). A row is a grant: the
-- token's id, tenant, role, the hash of its secret (never the secret), and an Ed25519
-- signature by the vault's signing key over all of it, so a row the database alone wrote
-- or altered is refused when presented. Revocation stamps revoked_at/by once; rows are
-- never deleted or rewritten (the access trail records both events too).
CREATE TABLE "api_tokens" (
	"tenant_id" text NOT NULL,
	"token_id" text NOT NULL,
	"role" text NOT NULL,
	"label" text,
	"secret_hash" bytea NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"created_by" text NOT NULL,
	"expires_at" timestamp (3) with time zone,
	"key_id" text NOT NULL,
	"signature" bytea NOT NULL,
	"revoked_at" timestamp (3) with time zone,
	"revoked_by" text,
	CONSTRAINT "api_tokens_tenant_id_token_id_pk" PRIMARY KEY("tenant_id","token_id"),
	CONSTRAINT "api_tokens_role" CHECK ("role" IN ('writer', 'reader', 'operator', 'auditor', 'admin'))
);
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_tenant_id_tenants_tenant_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("tenant_id") ON DELETE no action ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON api_tokens
  USING (tenant_id = current_setting('vault.tenant', true))
  WITH CHECK (tenant_id = current_setting('vault.tenant', true));
--> statement-breakpoint
CREATE FUNCTION session_vault_token_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.revoked_at IS NOT NULL OR NEW.revoked_by IS NOT NULL THEN
      RAISE EXCEPTION 'session-vault: a token starts unrevoked' USING ERRCODE = 'SV003';
    END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL AND NEW.revoked_by IS NOT NULL
     AND (NEW.tenant_id, NEW.token_id, NEW.role, NEW.label, NEW.secret_hash, NEW.created_at, NEW.created_by, NEW.expires_at, NEW.key_id, NEW.signature)
         IS NOT DISTINCT FROM (OLD.tenant_id, OLD.token_id, OLD.role, OLD.label, OLD.secret_hash, OLD.created_at, OLD.created_by, OLD.expires_at, OLD.key_id, OLD.signature) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'session-vault: API tokens are kept; only an unrevoked token may be revoked (% refused)', TG_OP USING ERRCODE = 'SV003';
END
$$;
--> statement-breakpoint
CREATE TRIGGER api_tokens_guard_rows BEFORE INSERT OR UPDATE OR DELETE ON api_tokens
  FOR EACH ROW EXECUTE FUNCTION session_vault_token_guard();
--> statement-breakpoint
CREATE TRIGGER api_tokens_no_truncate BEFORE TRUNCATE ON api_tokens
  FOR EACH STATEMENT EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
REVOKE ALL ON api_tokens FROM PUBLIC;
--> statement-breakpoint
GRANT SELECT, INSERT ON api_tokens TO session_vault_app;
--> statement-breakpoint
GRANT UPDATE (revoked_at, revoked_by) ON api_tokens TO session_vault_app;
--> statement-breakpoint
GRANT SELECT ON api_tokens TO session_vault_auditor;
--> statement-breakpoint
-- A token is refused when the signed access trail records its revocation, even if its
-- row no longer says so (src/store/queries/token-revocations.ts): this finds them.
CREATE INDEX access_log_token_revocations ON access_log (action, tenant_id) WHERE left(action, 14) = 'tokens.revoke:';
