-- A purge is held to its session's floor when it commits, not only when its tombstone is written.
--
-- The tombstone's guard (0015, 0045) holds it to the floor and last-event time of its
-- session as they are when it is written, and 0046 lets a session become purged at commit
-- when a tombstone is at its head. A tombstone for a session that did not exist yet had no
-- floor to be held to: with the operator role's credentials a thief wrote one for a
-- session id the agents would use (`claim-9001`, head 1), and once the session was created
-- and archived, in a compliance-mode tenant whose floor is seven years, marked it purged
-- and destroyed its key at once; the retention run would also have deleted the archive
-- objects of a session a tombstone named while it was only archived. Now a tombstone is
-- refused for a session with no row, and the purge is checked again at commit against
-- the session's floor and last-event time as they are then (same rules, SV003). A DBA with
-- triggers off can still do either: verify names the purge (purge_unrecorded,
-- tombstone_mismatch, purged_early).
CREATE FUNCTION session_vault_purge_in_floor(p_tenant text, p_session text, p_last timestamptz, p_due timestamptz, p_purged timestamptz) RETURNS boolean
LANGUAGE plpgsql SET timezone = 'UTC' SET search_path = public, pg_temp AS $$
-- A purge counted from p_last, due at p_due and made at p_purged, against the session's
-- last-event time and floor as they are now: refused (SV003) if it comes before them;
-- false if the database holds no such session.
DECLARE
  v_floor text;
  v_last timestamptz;
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
  RETURN true;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION session_vault_tombstone_floor() RETURNS trigger LANGUAGE plpgsql SET timezone = 'UTC' SET search_path = public, pg_temp AS $$
BEGIN
  IF NEW.purged_at > clock_timestamp() + interval '5 minutes' THEN
    RAISE EXCEPTION 'session-vault: a purge is stamped by the database''s clock, and this one is ahead of it (% against %)', NEW.purged_at, date_trunc('second', clock_timestamp()) USING ERRCODE = 'SV005';
  END IF;
  IF NOT session_vault_purge_in_floor(NEW.tenant_id, NEW.session_id, NEW.last_at, NEW.due_at, NEW.purged_at) THEN
    RAISE EXCEPTION 'session-vault: a tombstone is written only for a session the vault holds' USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION session_vault_purged_tombstone_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_t record;
BEGIN
  SELECT t.last_at, t.due_at, t.purged_at INTO v_t FROM tombstones t
   WHERE t.tenant_id = NEW.tenant_id AND t.session_id = NEW.session_id AND t.head_seq = NEW.head_seq;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'session-vault: a session is purged only with its tombstone, which holds the purge to its floor' USING ERRCODE = 'SV003';
  END IF;
  -- The session as it is at commit: a tombstone written before it was created, or before it was appended to again, does not count for it.
  PERFORM session_vault_purge_in_floor(NEW.tenant_id, NEW.session_id, v_t.last_at, v_t.due_at, v_t.purged_at);
  RETURN NULL;
END
$$;
