-- The guards on an event's type, a session's status and a session's id keep their rules
-- and their names (events_type, sessions_status, sessions_id_format), and cost an append
-- less. A value that breaks one is still refused with SQLSTATE 23514 naming it, whoever
-- writes it, with or without triggers (session_replication_role turns off neither a
-- table's CHECK nor a domain's).
--
-- Why: PostgreSQL rebuilds a table's CHECK constraints from their stored text at the start
-- of every statement that writes a row, and checks every one on every row an UPDATE
-- writes. Measured in loops of 40,000 statements on this server:
--   - events_type, its fourteen names a constant array rebuilt each time: about 7.4 µs a
--     statement, where the same list in a function costs about 2.7 (the function's pinned
--     search_path included). Every append inserts events.
--   - the session's id pattern and status list: about 5.5 µs an UPDATE, and every append
--     moves its session's head without changing either. As domains on their columns they
--     are checked only where a value is written to the column, prepared once a connection.
--
-- How, without a rewrite or a scan of events or sessions:
--   - events_type becomes a CHECK calling session_vault_event_type_known, added NOT VALID:
--     every stored row was written under the CHECK it replaces, in this transaction too.
--     The column stays text: seven read functions return it through RETURN QUERY, which
--     wants the declared type exactly, so a domain there would mean redefining each of them
--     (and breaking an older version's reads while a rolling upgrade runs).
--   - a session's id and status are domains instead: a CHECK, even one calling a function,
--     would still run on every move of the head.
--   - sessions' status and session_id change to domains without a constraint (the same
--     bytes, nothing to check), the domains then get theirs NOT VALID for the same reason,
--     and the tables' CHECKs go. The session guard's trigger names the status column, so
--     it is dropped for the change of type and made again as 0021 made it.
--   - `ALTER TABLE events VALIDATE CONSTRAINT events_type`, and `ALTER DOMAIN … VALIDATE
--     CONSTRAINT` for the two domains, prove the stored rows by a scan whenever an operator
--     chooses to take the time (docs/operations.md).
--   - session_vault_read_since (0031) returns a session's status in its rows: PL/pgSQL's
--     RETURN QUERY wants the declared type exactly, so it now casts it to text. Nothing else
--     returns these columns from a function; the rest of the vault sees text as before.
CREATE FUNCTION session_vault_event_type_known(p_type text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = public, pg_temp AS $$
BEGIN
  RETURN p_type IN ('message', 'tool_call', 'tool_result', 'state_patch', 'task', 'summary', 'key_shredded', 'model_error',
                    'agent_item', 'retraction', 'instructions', 'usage', 'graph_checkpoint', 'graph_writes');
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_event_type_known(text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_event_type_known(text) TO session_vault_app;
--> statement-breakpoint
ALTER TABLE events DROP CONSTRAINT events_type;
--> statement-breakpoint
ALTER TABLE events ADD CONSTRAINT events_type CHECK (session_vault_event_type_known(type)) NOT VALID;
--> statement-breakpoint
CREATE DOMAIN session_vault_session_status AS text;
--> statement-breakpoint
DROP TRIGGER sessions_purged_final ON sessions;
--> statement-breakpoint
ALTER TABLE sessions ALTER COLUMN status TYPE session_vault_session_status;
--> statement-breakpoint
CREATE TRIGGER sessions_purged_final BEFORE UPDATE OF status, wrapped_data_key, retain_floor ON sessions
  FOR EACH ROW EXECUTE FUNCTION session_vault_session_guard();
--> statement-breakpoint
ALTER TABLE sessions DROP CONSTRAINT sessions_status;
--> statement-breakpoint
ALTER DOMAIN session_vault_session_status ADD CONSTRAINT sessions_status CHECK (VALUE IN ('active', 'archived', 'purged')) NOT VALID;
--> statement-breakpoint
CREATE DOMAIN session_vault_session_id AS text;
--> statement-breakpoint
ALTER TABLE sessions ALTER COLUMN session_id TYPE session_vault_session_id;
--> statement-breakpoint
ALTER TABLE sessions DROP CONSTRAINT sessions_id_format;
--> statement-breakpoint
ALTER DOMAIN session_vault_session_id ADD CONSTRAINT sessions_id_format CHECK (VALUE ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$') NOT VALID;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION session_vault_read_since(p_tenant text, p_session text, p_have bigint, p_limit integer)
RETURNS TABLE (
  r_status text, r_keyed boolean, r_head_seq bigint, r_head_hash bytea, r_snapshot_seq bigint,
  r_seq bigint, r_type text, r_at timestamptz, r_correlation_id text, r_idempotency_key text, r_tool text,
  r_prompt_tokens integer, r_completion_tokens integer, r_cost_usd double precision, r_duration_ms bigint,
  r_key_version integer, r_nonce bytea, r_ciphertext bytea, r_hash bytea
) LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM session_vault_scope(p_tenant);
  -- One index range, never a scan of the session; none for a session not active or shredded.
  RETURN QUERY
    SELECT s.status::text, s.wrapped_data_key IS NOT NULL, s.head_seq, s.head_hash,
           (SELECT max(sn.seq) FROM snapshots sn WHERE sn.tenant_id = s.tenant_id AND sn.session_id = s.session_id),
           e.seq, e.type, e.at, e.correlation_id, e.idempotency_key, e.tool,
           e.prompt_tokens, e.completion_tokens, e.cost_usd, e.duration_ms, e.key_version,
           CASE WHEN e.seq = p_have THEN NULL ELSE e.nonce END,
           CASE WHEN e.seq = p_have THEN NULL ELSE e.ciphertext END,
           e.hash
    FROM sessions s
    LEFT JOIN LATERAL (
      SELECT * FROM events ev
      WHERE ev.tenant_id = s.tenant_id AND ev.session_id = s.session_id AND ev.seq >= p_have
        AND s.status = 'active' AND s.wrapped_data_key IS NOT NULL
      ORDER BY ev.seq
      LIMIT p_limit
    ) e ON true
    WHERE s.tenant_id = p_tenant AND s.session_id = p_session;
END
$$;
