-- Retention durations in the form the vault writes and reads them.
--
-- A retention policy's durations and a session's retention floor are text (`30d`, `7y`).
-- The database's own guards read them with session_vault_interval (0015), which gives
-- NULL for text that is not a duration, and a NULL compares as neither shorter nor
-- longer: with the operator role's credentials a thief set an archived session's floor to
-- `forever`, and in a compliance-mode tenant, whose floors the database holds for years,
-- wrote its tombstone and destroyed its key seconds after it was created (0045's floor
-- check, `purged_at < last_at + NULL`, passed). A policy row of `forever`, or a floor so
-- written, also stopped the vault's retention run for every tenant (the row could not be
-- read, INVALID_INPUT), and new sessions copied the row's text as their floor. Now the
-- database refuses, to every role, a policy whose durations are not of the form
-- `[1-9][0-9]{0,5}(h|d|w|mo|y)` no longer than the vault reads (up to the year 9000 from
-- 1970, src/retention/duration.ts) or that purges before it archives, and a floor not of
-- that form. Checked on new and changed rows and floors; one stored before stays, and the vault
-- reports it (CHAIN_BROKEN for its sessions in a run; `verify`: policy_unrecorded,
-- floor_unrecorded).
CREATE FUNCTION session_vault_duration_ok(p text) RETURNS boolean LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp AS $$
  SELECT coalesce((
    SELECT CASE m[2] WHEN 'y' THEN m[1]::int <= 7030 WHEN 'mo' THEN m[1]::int <= 84360 WHEN 'w' THEN m[1]::int <= 366807 ELSE true END
      FROM regexp_match(p, '^([1-9][0-9]{0,5})(h|d|w|mo|y)$') AS m
     WHERE m IS NOT NULL), false)
$$;
--> statement-breakpoint
-- retain at least archive-after, compared as the vault compares them (retention/duration.ts atLeast: from 2001-01-31, months clamped to their last day).
ALTER TABLE retention_policies ADD CONSTRAINT retention_policies_duration_form CHECK (
  CASE WHEN session_vault_duration_ok(archive_after) AND session_vault_duration_ok(retain)
       THEN timestamp '2001-01-31 00:00:00' + session_vault_interval(retain) >= timestamp '2001-01-31 00:00:00' + session_vault_interval(archive_after)
       ELSE false END) NOT VALID;
--> statement-breakpoint
-- A floor by a trigger on the column, not a check: a check runs on every update of the
-- row, and an append updates its session's head (the function costs some 16 µs a call).
CREATE FUNCTION session_vault_floor_form_refused() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'session-vault: a retention floor is a duration of the form the vault reads (30d, 7y)' USING ERRCODE = 'SV003';
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_retain_floor_form BEFORE INSERT OR UPDATE OF retain_floor ON sessions
  FOR EACH ROW WHEN (NEW.retain_floor IS NOT NULL AND NOT session_vault_duration_ok(NEW.retain_floor))
  EXECUTE FUNCTION session_vault_floor_form_refused();
