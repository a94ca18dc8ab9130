-- An access record's time where the chain's format can put it.
--
-- A record's hash covers its time as milliseconds since 1970 in an unsigned 64-bit field
-- (src/audit/access.ts), and its signed head writes it as an ISO 8601 time. A record
-- dated before 1970, or at `infinity`, has neither: the agents' database role (which may
-- insert access records) could store one, and every later `verify` threw where it should
-- have reported, whatever else was wrong with the trail. The vault dates records by its
-- clock; the database now refuses any time outside 1970 to the year 9999 (checked on new
-- rows: one stored before stays, and `verify` names it, access_time_invalid).
ALTER TABLE access_log ADD CONSTRAINT access_log_at_range CHECK (at >= timestamptz '1970-01-01 00:00:00+00' AND at < timestamptz '9999-01-01 00:00:00+00') NOT VALID;
