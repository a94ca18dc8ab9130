-- The access trail is append-only like events. It spans tenants on purpose (an operator
-- trail must be queryable across them, `access-log` without --tenant), so it has no
-- tenant policy; privileges and triggers guard it instead, and its hash chain makes any
-- change visible to `verify`.
CREATE TRIGGER access_log_append_only_rows BEFORE UPDATE OR DELETE ON access_log
  FOR EACH ROW EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
CREATE TRIGGER access_log_append_only_truncate BEFORE TRUNCATE ON access_log
  FOR EACH STATEMENT EXECUTE FUNCTION session_vault_refuse_change();
--> statement-breakpoint
ALTER TABLE access_log ADD CONSTRAINT access_log_seq_positive CHECK (seq >= 1);
--> statement-breakpoint
REVOKE ALL ON access_log FROM PUBLIC;
--> statement-breakpoint
GRANT SELECT, INSERT ON access_log TO session_vault_app;
