-- Where a retired signing key's access records stop counting as the vault's own.
--
-- Whoever holds a retired signing key's secret half (the keyring copy a rotation leaves
-- behind, a backup) and the application role's credentials, which insert access records,
-- could sign a record of their own and date it as they liked: a `hold.clear` covering a
-- hold the legal role's credentials lifted, so that the operator's own erasure destroyed
-- what it held. Now a retired key's record counts only when dated in the key's period and
-- written before the first record naming a key that followed it (src/audit/key-period.ts).
-- This index finds that first record without a scan of the trail.
CREATE INDEX access_log_key_seq ON access_log (key_id, seq);
