-- Retention floors compared from every start, not from one date.
--
-- 0069 compared a compliance-mode floor with the one it replaces as the vault did then:
-- each added to 2001-01-31. From that date a month is 28 days and seven years 2,556, so
-- `28d` passed for `1mo` and `2556d` for `7y`; from 2025-03-01 a month is 31 days, and
-- seven years from 2026-03-01 are 2,557. In a compliance-mode tenant whose policy was set
-- to `28d` for new sessions, the vault's own archive lowered a `1mo` session's floor to
-- `28d` (the database let it) and its retention run purged the session on day 29, three
-- days inside the month its floor promised; the operator role could do the same by hand.
-- Now a floor is no lower only when it keeps at least as long from every start
-- (src/retention/duration.ts atLeast): of one kind by its count (hours, or months), across
-- kinds when the fewest hours the new one spans reach the most the old one does. The
-- calendar repeats every 400 years (4,800 months, 146,097 days), so the fewest and most
-- days of a number of months are found over the first of each month of one cycle. The
-- rest of the guard is 0030's, as 0069 restated it.
CREATE FUNCTION session_vault_month_span(p_months integer) RETURNS integer[] LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp AS $$
  -- {fewest, most} days p_months calendar months span from any start. From the first of a
  -- month the span is the months' lengths; from a later day the same, less what the target
  -- month lacks of that day (clamped), so the fewest come from the start month's last day.
  SELECT ARRAY[(p_months / 4800) * 146097 + min(days - greatest(0, start_length - end_length)),
               (p_months / 4800) * 146097 + max(days)]
    FROM (SELECT e - s AS days, (s + interval '1 month')::date - s AS start_length, (e + interval '1 month')::date - e AS end_length
            FROM (SELECT (date '2000-01-01' + make_interval(months => i))::date AS s,
                         (date '2000-01-01' + make_interval(months => i + p_months % 4800))::date AS e
                    FROM generate_series(0, 4799) AS i) AS starts) AS spans
$$;
--> statement-breakpoint
CREATE FUNCTION session_vault_at_least(p_a text, p_b text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE SET search_path = public, pg_temp AS $$
-- Whether duration p_a keeps at least as long as p_b from every start; NULL if either is not a duration.
DECLARE
  v_a text[] := regexp_match(p_a, '^([1-9][0-9]{0,5})(h|d|w|mo|y)$');
  v_b text[] := regexp_match(p_b, '^([1-9][0-9]{0,5})(h|d|w|mo|y)$');
  v_months_a integer;
  v_months_b integer;
  v_fewest_a bigint;
  v_most_b bigint;
BEGIN
  IF v_a IS NULL OR v_b IS NULL THEN
    RETURN NULL;
  END IF;
  v_months_a := CASE v_a[2] WHEN 'y' THEN v_a[1]::integer * 12 WHEN 'mo' THEN v_a[1]::integer END;
  v_months_b := CASE v_b[2] WHEN 'y' THEN v_b[1]::integer * 12 WHEN 'mo' THEN v_b[1]::integer END;
  IF v_months_a IS NOT NULL AND v_months_b IS NOT NULL THEN
    RETURN v_months_a >= v_months_b;
  END IF;
  IF v_months_a IS NULL AND v_months_b IS NULL THEN
    RETURN v_a[1]::bigint * CASE v_a[2] WHEN 'w' THEN 168 WHEN 'd' THEN 24 ELSE 1 END
        >= v_b[1]::bigint * CASE v_b[2] WHEN 'w' THEN 168 WHEN 'd' THEN 24 ELSE 1 END;
  END IF;
  -- One in months, the other not: the fewest hours p_a spans and the most p_b does. For months, first within bounds that
  -- need no scan (a year is 365 or 366 days, a month 28 to 31, the clamp at the end takes
  -- up to 3), which decide unless the two are close; then exactly.
  IF v_months_a IS NULL THEN
    v_fewest_a := v_a[1]::bigint * CASE v_a[2] WHEN 'w' THEN 168 WHEN 'd' THEN 24 ELSE 1 END;
    v_most_b := 24::bigint * (366 * (v_months_b / 12) + 31 * (v_months_b % 12));
    IF v_fewest_a >= v_most_b OR v_fewest_a < 24::bigint * (365 * (v_months_b / 12) + 28 * (v_months_b % 12) - 3) THEN
      RETURN v_fewest_a >= v_most_b;
    END IF;
    v_most_b := 24::bigint * (session_vault_month_span(v_months_b))[2];
  ELSE
    v_most_b := v_b[1]::bigint * CASE v_b[2] WHEN 'w' THEN 168 WHEN 'd' THEN 24 ELSE 1 END;
    v_fewest_a := 24::bigint * (365 * (v_months_a / 12) + 28 * (v_months_a % 12) - 3);
    IF v_fewest_a >= v_most_b OR 24::bigint * (366 * (v_months_a / 12) + 31 * (v_months_a % 12)) < v_most_b THEN
      RETURN v_fewest_a >= v_most_b;
    END IF;
    v_fewest_a := 24::bigint * (session_vault_month_span(v_months_a))[1];
  END IF;
  RETURN v_fewest_a >= v_most_b;
END
$$;
--> statement-breakpoint
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
     AND coalesce((SELECT mode FROM retention_policies p WHERE p.tenant_id = OLD.tenant_id), 'governance') <> 'governance'
     AND NOT coalesce(session_vault_at_least(NEW.retain_floor, OLD.retain_floor), false) THEN
    RAISE EXCEPTION 'session-vault: the tenant is in compliance mode; retention floors are never lowered' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
