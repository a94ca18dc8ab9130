-- A purge is held to the database's clock and to the session's own last-event time.
--
-- The tombstone's floor check (0015) compared the tombstone's own purged_at and last_at,
-- both written by the purging process. So a retention job on a host whose clock ran
-- years ahead (a bad NTP step, or a thief with the job's credentials who set it so) found
-- every archived session due and purged it, and the retention role could, in SQL, write
-- a tombstone stamped years ahead, or one saying the session went quiet years before it
-- did, and purge any archived session at once. Now a tombstone may not be stamped more
-- than 5 minutes (the skew the trail checks allow) past the database's clock, and counts
-- from the session's recorded last-event time (sessions.last_at, which only moves
-- forward: 0037) or a later one (the vault counts from its head's signed time when that
-- is later). The first is its own SQLSTATE, SV005, which the vault reports as
-- CLOCK_AHEAD, so that an operator tells a host clock gone wrong from other refusals. A
-- DBA with triggers off can still do either: verify compares each tombstone
-- with the session's trail and the signed checkpoint of its head.
CREATE OR REPLACE FUNCTION session_vault_tombstone_floor() RETURNS trigger LANGUAGE plpgsql SET timezone = 'UTC' SET search_path = public, pg_temp AS $$
DECLARE
  v_floor text;
  v_last timestamptz;
BEGIN
  IF NEW.purged_at > clock_timestamp() + interval '5 minutes' THEN
    RAISE EXCEPTION 'session-vault: a purge is stamped by the database''s clock, and this one is ahead of it (% against %)', NEW.purged_at, date_trunc('second', clock_timestamp()) USING ERRCODE = 'SV005';
  END IF;
  SELECT retain_floor, last_at INTO v_floor, v_last FROM sessions WHERE tenant_id = NEW.tenant_id AND session_id = NEW.session_id;
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
