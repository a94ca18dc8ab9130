-- Every time a vault role writes, where the vault's formats and listings can put it.
--
-- 0063 held the access trail's times to 1970..9999 and 0065 the sessions' first- and
-- last-event times; the other times the vault's roles write were not held at all. The
-- operator role could store a token's revocation, a tenant key version's creation or a
-- retention policy's setting at `infinity`, which made the listings of tokens, keys and
-- policies throw instead of answering, for every row of the tenant; and a policy set at
-- `infinity` matched any recorded change by its actor, whatever its time, so `verify`
-- took an older, shorter policy written back into the row for a recorded one. Each time
-- column a vault role writes now keeps to 1970 up to the year 9999 (the vault writes the
-- time of its clock; a token's expiry is refused past 9999 before it gets here). Checked
-- on new and changed rows: one stored before stays, and the vault reads it as no time
-- (listings write `invalid`, checks count it as matching nothing). A NULL passes, as
-- before. The database's own stamps (`stored_at`) come from its clock and are not
-- checked, nor is a snapshot's time, which 0053 holds to its event's. A session's creation
-- time never changes (0039), so it is checked as the session is stored. The owner can
-- drop these, as any rule.
ALTER TABLE tenants ADD CONSTRAINT tenants_times_range CHECK (
  created_at >= timestamptz '1970-01-01 00:00:00+00' AND created_at < timestamptz '9999-01-01 00:00:00+00') NOT VALID;
--> statement-breakpoint
ALTER TABLE tenant_keys ADD CONSTRAINT tenant_keys_times_range CHECK (
  created_at >= timestamptz '1970-01-01 00:00:00+00' AND created_at < timestamptz '9999-01-01 00:00:00+00') NOT VALID;
--> statement-breakpoint
ALTER TABLE sessions ADD CONSTRAINT sessions_created_range CHECK (
  created_at >= timestamptz '1970-01-01 00:00:00+00' AND created_at < timestamptz '9999-01-01 00:00:00+00') NOT VALID;
--> statement-breakpoint
ALTER TABLE events ADD CONSTRAINT events_at_range CHECK (
  at >= timestamptz '1970-01-01 00:00:00+00' AND at < timestamptz '9999-01-01 00:00:00+00') NOT VALID;
--> statement-breakpoint
ALTER TABLE checkpoints ADD CONSTRAINT checkpoints_signed_at_range CHECK (
  signed_at >= timestamptz '1970-01-01 00:00:00+00' AND signed_at < timestamptz '9999-01-01 00:00:00+00') NOT VALID;
--> statement-breakpoint
ALTER TABLE legal_holds ADD CONSTRAINT legal_holds_times_range CHECK (
  set_at >= timestamptz '1970-01-01 00:00:00+00' AND set_at < timestamptz '9999-01-01 00:00:00+00'
  AND cleared_at >= timestamptz '1970-01-01 00:00:00+00' AND cleared_at < timestamptz '9999-01-01 00:00:00+00') NOT VALID;
--> statement-breakpoint
ALTER TABLE retention_policies ADD CONSTRAINT retention_policies_times_range CHECK (
  set_at >= timestamptz '1970-01-01 00:00:00+00' AND set_at < timestamptz '9999-01-01 00:00:00+00') NOT VALID;
--> statement-breakpoint
ALTER TABLE archives ADD CONSTRAINT archives_times_range CHECK (
  archived_at >= timestamptz '1970-01-01 00:00:00+00' AND archived_at < timestamptz '9999-01-01 00:00:00+00'
  AND verified_at >= timestamptz '1970-01-01 00:00:00+00' AND verified_at < timestamptz '9999-01-01 00:00:00+00') NOT VALID;
--> statement-breakpoint
ALTER TABLE tombstones ADD CONSTRAINT tombstones_times_range CHECK (
  last_at >= timestamptz '1970-01-01 00:00:00+00' AND last_at < timestamptz '9999-01-01 00:00:00+00'
  AND due_at >= timestamptz '1970-01-01 00:00:00+00' AND due_at < timestamptz '9999-01-01 00:00:00+00'
  AND purged_at >= timestamptz '1970-01-01 00:00:00+00' AND purged_at < timestamptz '9999-01-01 00:00:00+00'
  AND objects_deleted_at >= timestamptz '1970-01-01 00:00:00+00' AND objects_deleted_at < timestamptz '9999-01-01 00:00:00+00') NOT VALID;
--> statement-breakpoint
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_times_range CHECK (
  created_at >= timestamptz '1970-01-01 00:00:00+00' AND created_at < timestamptz '9999-01-01 00:00:00+00'
  AND expires_at >= timestamptz '1970-01-01 00:00:00+00' AND expires_at < timestamptz '9999-01-01 00:00:00+00'
  AND revoked_at >= timestamptz '1970-01-01 00:00:00+00' AND revoked_at < timestamptz '9999-01-01 00:00:00+00') NOT VALID;
