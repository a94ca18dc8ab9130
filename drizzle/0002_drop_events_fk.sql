-- Drop the per-row foreign key from events to sessions: session_vault_append moves the
-- session head before inserting in the same statement, so no event can be written without
-- its session, and the per-row check (a key-share lock on the session row) cost about 40%
-- of insert time.
ALTER TABLE "events" DROP CONSTRAINT "events_tenant_id_session_id_sessions_tenant_id_session_id_fk";
