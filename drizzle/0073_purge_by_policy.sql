-- A session's floor is raised to its tenant's retention when it is archived, and a purge
-- is held to the tenant's current retention as well as to the floor.
--
-- A session is kept by the longer of its floor and its tenant's current retain, and
-- archiving raises its floor to the retain of the day (docs/retention.md). The vault did
-- both; the database held a purge to the stored floor alone. In a compliance-mode tenant
-- that raised its retention from one year to seven, a thief with the retention job's
-- credentials (no keyring, no say over policies) archived a session created under one
-- year with its own statements, its floor left at `1y`, and purged it, key and all, two
-- and a half years after its last event, where the vault keeps it seven. A session so
-- archived also kept the `1y` floor once the policy for new sessions went down again. And
-- the vault's own archive, run as the retention role, raised the floor with an UPDATE that
-- role may not make: the retention job's run failed to archive every session whose floor
-- the policy had raised. Now the database raises the floor when the session becomes
-- archived (as 0072 does when it is created: the longer of the two, from every start),
-- whoever archives it, and a tombstone's purge time and due date must be past the
-- last-event time plus the tenant's retain too. A tenant with no policy row, or one the
-- vault does not read (stored before 0067), is left to its floors, as before.
-- 0072's trigger function raises NEW's floor to its tenant's retain; it serves both now.
ALTER FUNCTION session_vault_new_session_floor() RENAME TO session_vault_floor_from_policy;
--> statement-breakpoint
CREATE TRIGGER sessions_floor_at_archive BEFORE UPDATE OF status ON sessions
  FOR EACH ROW WHEN (NEW.status = 'archived' AND OLD.status IS DISTINCT FROM 'archived')
  EXECUTE FUNCTION session_vault_floor_from_policy();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION session_vault_purge_in_floor(p_tenant text, p_session text, p_last timestamptz, p_due timestamptz, p_purged timestamptz) RETURNS boolean
LANGUAGE plpgsql SET timezone = 'UTC' SET search_path = public, pg_temp AS $$
-- A purge counted from p_last, due at p_due and made at p_purged, against the session's
-- last-event time and floor as they are now, and its tenant's retain: refused (SV003) if
-- it comes before them; false if the database holds no such session.
DECLARE
  v_floor text;
  v_last timestamptz;
  v_retain text;
BEGIN
  SELECT retain_floor, last_at INTO v_floor, v_last FROM sessions WHERE tenant_id = p_tenant AND session_id = p_session;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  IF v_last IS NOT NULL AND (p_last IS NULL OR p_last < v_last) THEN
    RAISE EXCEPTION 'session-vault: a purge counts from the session''s last-event time (%), not an earlier one', v_last USING ERRCODE = 'SV003';
  END IF;
  IF v_floor IS NOT NULL AND (p_last IS NULL OR p_purged < p_last + session_vault_interval(v_floor) OR p_due < p_last + session_vault_interval(v_floor)) THEN
    RAISE EXCEPTION 'session-vault: purge before the retention floor (%)', v_floor USING ERRCODE = 'SV003';
  END IF;
  SELECT p.retain INTO v_retain FROM retention_policies p WHERE p.tenant_id = p_tenant;
  IF session_vault_duration_ok(v_retain) AND (p_last IS NULL OR p_purged < p_last + session_vault_interval(v_retain) OR p_due < p_last + session_vault_interval(v_retain)) THEN
    RAISE EXCEPTION 'session-vault: purge before the tenant''s retention (%)', v_retain USING ERRCODE = 'SV003';
  END IF;
  RETURN true;
END
$$;
