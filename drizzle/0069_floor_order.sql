-- Retention floors ordered as the vault orders them.
--
-- In compliance mode the database refuses lowering a session's floor, comparing the old
-- and the new duration as intervals (0015, 0030). Postgres orders intervals by a month of
-- 30 days and a year of 360, which is not the calendar the vault counts by (a year is 365
-- or 366 days, src/retention/duration.ts): with the operator role's credentials a thief
-- set a 7-year floor to `2521d`, which the comparison took for longer and the calendar
-- makes 35 days shorter, and purged the session then, before its floor; `3601d` for
-- `10y` is 51 days short, and the gap grows with the floor. Now the floors are compared
-- as the vault compares durations (atLeast: each added to 2001-01-31, months clamped to
-- their last day), so the database refuses, in compliance mode, exactly what the vault
-- counts as lower. The rest of the guard is 0030's.
CREATE OR REPLACE FUNCTION session_vault_session_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF OLD.status = 'purged' AND (NEW.status <> 'purged' OR NEW.wrapped_data_key IS NOT NULL) THEN
    RAISE EXCEPTION 'session-vault: a purged session cannot change' USING ERRCODE = 'SV001';
  END IF;
  IF ((OLD.wrapped_data_key IS NOT NULL AND NEW.wrapped_data_key IS NULL) OR (OLD.status <> 'purged' AND NEW.status = 'purged'))
     AND EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant_id = OLD.tenant_id AND h.session_id = OLD.session_id AND h.cleared_at IS NULL) THEN
    RAISE EXCEPTION 'session-vault: the session is under legal hold' USING ERRCODE = 'SV003';
  END IF;
  IF OLD.retain_floor IS NOT NULL AND NEW.retain_floor IS DISTINCT FROM OLD.retain_floor
     AND (NEW.retain_floor IS NULL
          OR coalesce(timestamp '2001-01-31 00:00:00' + session_vault_interval(NEW.retain_floor) < timestamp '2001-01-31 00:00:00' + session_vault_interval(OLD.retain_floor), true))
     AND coalesce((SELECT mode FROM retention_policies p WHERE p.tenant_id = OLD.tenant_id), 'governance') <> 'governance' THEN
    RAISE EXCEPTION 'session-vault: the tenant is in compliance mode; retention floors are never lowered' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
