-- A new session's floor is never below its tenant's retention.
--
-- A session's floor is what the database holds its purge to (0045, 0068) and, in compliance
-- mode, never lowers (0070); it is the tenant's retain when the session is created. The
-- vault writes it so (src/vault/open-session.ts), but the database took whatever floor the
-- inserting role gave: with the application role's credentials, a session row stored
-- under an id the agents would use, in a compliance-mode tenant kept seven years, carried a
-- floor of `1h`, or none, and the retention role's tombstone for it passed two hours
-- after its last event. Now a new session's floor is raised to its tenant's retain
-- whenever it is shorter from some start, or missing (the longer of the two, as
-- src/retention/duration.ts `longer`: `31d` for `30d` under a policy of `1mo`); a tenant
-- with no policy row, or one the vault does not read (stored before 0067), is left to the
-- vault's default and the signed trail, as before. The same raise settles a policy raised
-- between the vault reading it and inserting the session.
CREATE FUNCTION session_vault_longer(p_a text, p_b text) RETURNS text LANGUAGE plpgsql IMMUTABLE SET search_path = public, pg_temp AS $$
-- p_a or p_b, whichever keeps at least as long as the other from every start; when neither
-- does, the most days the one in months spans (whole weeks past six digits of days); NULL
-- if either is not a duration.
DECLARE
  v_a_long boolean := session_vault_at_least(p_a, p_b);
  v_calendar text[];
  v_days bigint;
BEGIN
  IF v_a_long IS NULL THEN
    RETURN NULL;
  END IF;
  IF v_a_long THEN
    RETURN p_a;
  END IF;
  IF session_vault_at_least(p_b, p_a) THEN
    RETURN p_b;
  END IF;
  v_calendar := coalesce(regexp_match(p_a, '^([1-9][0-9]{0,5})(mo|y)$'), regexp_match(p_b, '^([1-9][0-9]{0,5})(mo|y)$'));
  v_days := (session_vault_month_span(v_calendar[1]::integer * CASE v_calendar[2] WHEN 'y' THEN 12 ELSE 1 END))[2];
  RETURN CASE WHEN v_days <= 999999 THEN v_days || 'd' ELSE ceil(v_days / 7.0)::bigint || 'w' END;
END
$$;
--> statement-breakpoint
CREATE FUNCTION session_vault_new_session_floor() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_retain text;
BEGIN
  SELECT p.retain INTO v_retain FROM retention_policies p WHERE p.tenant_id = NEW.tenant_id;
  IF session_vault_duration_ok(v_retain) THEN
    IF NEW.retain_floor IS NULL THEN
      NEW.retain_floor := v_retain;
    ELSIF session_vault_at_least(NEW.retain_floor, v_retain) IS FALSE THEN
      NEW.retain_floor := session_vault_longer(NEW.retain_floor, v_retain);
    END IF;
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER sessions_floor_from_policy BEFORE INSERT ON sessions
  FOR EACH ROW EXECUTE FUNCTION session_vault_new_session_floor();
