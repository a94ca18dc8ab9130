-- When the database stored each legal hold and its clearing, by its own clock.
--
-- `verify` and the vault's guards match each hold row with the signed `hold.set` or
-- `hold.clear` record the vault writes just before it (src/audit/hold-check.ts), by the
-- row's stamps, which the legal role writes. A call that stopped between its record and
-- its row (a crash) leaves a record with no row, and the legal role could use it: clear a
-- hold stamped near that record, days later, in the same operator's name and reason, and
-- the clearing passed as recorded, so the operator's own erasure destroyed what the hold
-- kept. Now the database stamps when it stored the hold (`set_stored_at`) and its clearing
-- (`cleared_stored_at`), whatever the writer gives (the legal role may not update these
-- columns at all), and a row is matched only with a record the database stored within the
-- same 5 minutes: such a clearing has to come within minutes of the crash. Null before
-- this, where the stamps alone are matched, as before.
ALTER TABLE legal_holds ADD COLUMN set_stored_at timestamptz;
--> statement-breakpoint
ALTER TABLE legal_holds ADD COLUMN cleared_stored_at timestamptz;
--> statement-breakpoint
CREATE FUNCTION session_vault_hold_stamp() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF session_vault_may_restore_stamps(TG_RELID) THEN
    -- The owner or a superuser restoring rows: the times they give are kept.
    NEW.set_stored_at := coalesce(NEW.set_stored_at, clock_timestamp());
    IF NEW.cleared_at IS NOT NULL THEN
      NEW.cleared_stored_at := coalesce(NEW.cleared_stored_at, clock_timestamp());
    END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    NEW.set_stored_at := clock_timestamp();
    NEW.cleared_stored_at := NULL;
  ELSE
    NEW.set_stored_at := OLD.set_stored_at;
    NEW.cleared_stored_at := CASE WHEN NEW.cleared_at IS DISTINCT FROM OLD.cleared_at THEN clock_timestamp() ELSE OLD.cleared_stored_at END;
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER legal_holds_stamp BEFORE INSERT OR UPDATE ON legal_holds
  FOR EACH ROW EXECUTE FUNCTION session_vault_hold_stamp();
