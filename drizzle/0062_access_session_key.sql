-- A session's trail key in the digest of its access records' sessions: the v4 form.
--
-- A session's listing of the access trail (0059) is what a customer asking who read
-- their conversation is handed. Since 0061 it showed the session's records with the
-- tenant's trail secret, by which the tenant's records are keyed (src/audit/access.ts), so
-- that its holder could tell its own withheld records; whoever held it could then try the
-- tenant's other session ids against every withheld record of the tenant, and learn when
-- another customer's conversation was read. Now a record's session digest is keyed by
-- the session's own trail key, derived from the tenant's secret, and a session's listing
-- shows that key and the tenant's digest, not the secret. This column says a record is
-- in that form; false for records written before it, for the vault's own (no tenant),
-- and for those a process of an earlier version writes during an upgrade (v3).
ALTER TABLE access_log ADD COLUMN session_keyed boolean NOT NULL DEFAULT false;
--> statement-breakpoint
ALTER TABLE access_log ADD CONSTRAINT access_log_session_keyed_form CHECK (NOT session_keyed OR tenant_secret IS NOT NULL);
--> statement-breakpoint
GRANT INSERT (session_keyed) ON access_log TO session_vault_app;
