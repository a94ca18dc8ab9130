-- A read-only role for auditors and monitoring: what `verify`, `sessions`, `access-log`,
-- `hold list` and `retention show` read, and nothing they could change. It has no key,
-- so it decrypts nothing; row-level security scopes it per tenant as it does the
-- application role. Connect with `--app-role session_vault_auditor` (a login that is a
-- member of it: GRANT session_vault_auditor TO auditor_login).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'session_vault_auditor') THEN
    CREATE ROLE session_vault_auditor NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- created concurrently by a migration of another database on the same server
END
$$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO session_vault_auditor;
--> statement-breakpoint
GRANT SELECT ON tenants, tenant_keys, sessions, events, checkpoints, access_log, legal_holds, retention_policies, archives, tombstones, snapshots TO session_vault_auditor;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_tenants(), session_vault_scope(text), session_vault_read(text, text, integer, bigint[]) TO session_vault_auditor;
--> statement-breakpoint
GRANT USAGE ON SCHEMA drizzle TO session_vault_auditor;
--> statement-breakpoint
GRANT SELECT ON drizzle.__drizzle_migrations TO session_vault_auditor;
