-- Legal holds are tenant data: row-level security like every tenant table. The
-- application role may set and clear holds (clearing deletes the row; the access trail
-- keeps the history).
ALTER TABLE legal_holds ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE legal_holds FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON legal_holds
  USING (tenant_id = current_setting('vault.tenant', true))
  WITH CHECK (tenant_id = current_setting('vault.tenant', true));
--> statement-breakpoint
REVOKE ALL ON legal_holds FROM PUBLIC;
--> statement-breakpoint
GRANT SELECT, INSERT, DELETE ON legal_holds TO session_vault_app;
