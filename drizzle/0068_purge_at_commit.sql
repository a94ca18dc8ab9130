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
CREATE OR REPLACE FUNCTION session_vault_tombstone_floor() RETURNS trigger LANGUAGE plpgsql SET timezone = 'UTC' SET search_path = public, pg_temp AS $$
DECLARE
  v_floor text;
  v_last timestamptz;
BEGIN
  IF NEW.purged_at > clock_timestamp() + interval '5 minutes' THEN
    RAISE EXCEPTION 'session-vault: a purge is stamped by the database''s clock, and this one is ahead of it (% against %)', NEW.purged_at, date_trunc('second', clock_timestamp()) USING ERRCODE = 'SV005';
  END IF;
  SELECT retain_floor, last_at INTO v_floor, v_last FROM sessions WHERE tenant_id = NEW.tenant_id AND session_id = NEW.session_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'session-vault: a tombstone is written only for a session the vault holds' USING ERRCODE = 'SV003';
  END IF;
  IF v_last IS NOT NULL AND (NEW.last_at IS NULL OR NEW.last_at < v_last) THEN
    RAISE EXCEPTION 'session-vault: a purge counts from the session''s last-event time (%), not an earlier one', v_last USING ERRCODE = 'SV003';
  END IF;
  IF v_floor IS NOT NULL AND (NEW.last_at IS NULL OR NEW.purged_at < NEW.last_at + session_vault_interval(v_floor)
                              OR NEW.due_at < NEW.last_at + session_vault_interval(v_floor)) THEN
    RAISE EXCEPTION 'session-vault: purge before the retention floor (%)', v_floor USING ERRCODE = 'SV003';
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION session_vault_purged_tombstone_guard() RETURNS trigger LANGUAGE plpgsql SET timezone = 'UTC' SET search_path = public, pg_temp AS $$
DECLARE
  v_purged timestamptz;
  v_due timestamptz;
  v_counted timestamptz;
  v_floor text;
  v_last timestamptz;
BEGIN
  SELECT t.purged_at, t.due_at, t.last_at INTO v_purged, v_due, v_counted FROM tombstones t
   WHERE t.tenant_id = NEW.tenant_id AND t.session_id = NEW.session_id AND t.head_seq = NEW.head_seq;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'session-vault: a session is purged only with its tombstone, which holds the purge to its floor' USING ERRCODE = 'SV003';
  END IF;
  -- The session as it is at commit: a tombstone written before it was created, or before it was appended to again, does not count for it.
  SELECT retain_floor, last_at INTO v_floor, v_last FROM sessions WHERE tenant_id = NEW.tenant_id AND session_id = NEW.session_id;
  IF v_last IS NOT NULL AND (v_counted IS NULL OR v_counted < v_last) THEN
    RAISE EXCEPTION 'session-vault: a purge counts from the session''s last-event time (%), not an earlier one', v_last USING ERRCODE = 'SV003';
  END IF;
  IF v_floor IS NOT NULL AND (v_counted IS NULL OR v_purged < v_counted + session_vault_interval(v_floor) OR v_due < v_counted + session_vault_interval(v_floor)) THEN
    RAISE EXCEPTION 'session-vault: purge before the retention floor (%)', v_floor USING ERRCODE = 'SV003';
  END IF;
  RETURN NULL;
END
$$;
