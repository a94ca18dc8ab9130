-- An access record's seq follows the one before it, and fits a JavaScript number.
--
-- The vault writes each record at the trail's last seq plus one, and `verify` reports a
-- gap. But the agents' database role (which may insert access records) could insert one
-- past a gap: every later record chains across it, and every later `verify` reports it.
-- And one at a seq past 2^53, which no JavaScript number holds exactly: `verify` threw
-- instead of reporting, and every operator action failed (its record's seq had no exact
-- number). Now the database refuses both: a record whose seq is not 1 must follow a stored
-- one (checked after the statement, so that a statement's own records may follow each
-- other), and no seq is past 2^53 - 1 (new rows only). `verify` names one stored anyway.
ALTER TABLE access_log ADD CONSTRAINT access_log_seq_range CHECK (seq <= 9007199254740991) NOT VALID;
--> statement-breakpoint
CREATE FUNCTION session_vault_access_gapless() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF NEW.seq > 1 AND NOT EXISTS (SELECT 1 FROM access_log a WHERE a.seq = NEW.seq - 1) THEN
    RAISE EXCEPTION 'access record %: the trail has no record %, so it would leave a gap (access_log_gapless)', NEW.seq, NEW.seq - 1 USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER access_log_gapless AFTER INSERT ON access_log
  FOR EACH ROW EXECUTE FUNCTION session_vault_access_gapless();
