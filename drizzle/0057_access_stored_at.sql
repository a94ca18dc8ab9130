-- When the database stored each access record, by its own clock, which no role that
-- writes the trail can set.
--
-- A retired signing key's access record counts only when dated in the key's period and
-- written before the first record that names a key following it (0054). A record's time
-- is signed but chosen by its signer, and the application role inserts records. So after
-- a rotation made by hand (a new keyring put in place by configuration management, not
-- `keys rotate-signing`, which has the new key sign a record at once), until the new key
-- signed any record, whoever held the retired key's secret half could date a `hold.clear`
-- record back into its period to cover a hold the legal role's credentials lifted, and the
-- operator's own erasure destroyed what the hold kept. Now a retired key's record counts
-- only where the database also stored it in the key's period (plus the 5 minutes'
-- grace), by this column: the default, which the application role may not name (column
-- privileges: the trail's insert names the other columns, so it costs no trigger). Null
-- for records stored before this, which count as before.
ALTER TABLE access_log ADD COLUMN stored_at timestamptz;
--> statement-breakpoint
ALTER TABLE access_log ALTER COLUMN stored_at SET DEFAULT clock_timestamp();
--> statement-breakpoint
REVOKE INSERT ON access_log FROM session_vault_app;
--> statement-breakpoint
GRANT INSERT (seq, at, actor, action, tenant_id, session_id, reason, outcome, hash, key_id, signature) ON access_log TO session_vault_app;
