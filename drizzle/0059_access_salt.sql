-- A salt a record, so that one tenant's auditor can check the access trail without
-- reading other tenants' records.
--
-- The trail is one hash chain across tenants, each hash over a record's fields. A listing
-- for one tenant that left other tenants' records out could not be checked (the chain
-- needs every record), and one that showed only their hashes could hide the tenant's own
-- records among them. A record with a salt is chained in the v2 form (src/audit/access.ts):
-- its tenant, its session and its other fields in digests of their own, so a listing for
-- one tenant (or one session) shows every other record as its digests, the auditor sees
-- it is not theirs, and the chain still holds. The salt, 16 random bytes, keeps the
-- fields from being guessed from their digest. Null for records written before this,
-- which stay in the v1 form.
ALTER TABLE access_log ADD COLUMN salt bytea;
--> statement-breakpoint
ALTER TABLE access_log ADD CONSTRAINT access_log_salt_size CHECK (salt IS NULL OR octet_length(salt) = 16);
--> statement-breakpoint
GRANT INSERT (salt) ON access_log TO session_vault_app;
