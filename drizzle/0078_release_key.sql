-- A session's events are released only on a proof from a holder of the vault's keys.
--
-- The release function deletes an active session's events once an archive record names
-- the session at its head with a digest; the database cannot see the archive store, so
-- it took the record's word that a verified object exists. The retention role (and the
-- operator role, its member) may insert archive records: with the retention job's
-- database credentials alone (no keyring, no access to the store), a thief inserted a
-- record with a digest of their own for any session with no legal hold and called the
-- release function: every event of the session was deleted, with no object anywhere
-- (`verify` then named it `archive_missing`; nothing refused it). Now the release also
-- takes a proof: HMAC-SHA-256, under the vault's release key, of the tenant, session,
-- head and digest. The key is drawn by the vault, wrapped under its master key like a
-- tenant key (release_key_wraps, which the vault's roles read, so that a keyring holder
-- can unwrap it) and registered here once, its HMAC pads in a table no role but the
-- owner reads (release_key_secret): checked by the release function, which runs as the
-- owner. Without the master key there is no proof; a guessed or replayed one fails
-- (the message binds tenant, session, head and digest).
CREATE TABLE release_key_secret (
  id smallint PRIMARY KEY CHECK (id = 1),
  inner_pad bytea NOT NULL CHECK (octet_length(inner_pad) = 64),
  outer_pad bytea NOT NULL CHECK (octet_length(outer_pad) = 64),
  registered_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
REVOKE ALL ON release_key_secret FROM PUBLIC;
--> statement-breakpoint
CREATE TABLE release_key_wraps (
  id smallint PRIMARY KEY CHECK (id = 1),
  master_key_id text NOT NULL,
  wrapped bytea NOT NULL,
  registered_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
GRANT SELECT ON release_key_wraps TO session_vault_app;
--> statement-breakpoint
-- A master key rotation rewraps it (a wrap replaced by another role's is one the vault
-- cannot unwrap: archives fail, nothing is released).
GRANT UPDATE (master_key_id, wrapped) ON release_key_wraps TO session_vault_operator;
--> statement-breakpoint
-- Registered once, by the owner or the operator role (`init`, or the first archive of an
-- operator's process): the pads never leave the database, and are never replaced.
CREATE FUNCTION session_vault_register_release_key(p_master_key_id text, p_wrapped bytea, p_inner_pad bytea, p_outer_pad bytea)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO release_key_secret (id, inner_pad, outer_pad) VALUES (1, p_inner_pad, p_outer_pad) ON CONFLICT (id) DO NOTHING;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO release_key_wraps (id, master_key_id, wrapped) VALUES (1, p_master_key_id, p_wrapped);
  RETURN true;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_register_release_key(text, bytea, bytea, bytea) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_register_release_key(text, bytea, bytea, bytea) TO session_vault_operator;
--> statement-breakpoint
-- The proof: HMAC-SHA-256 (RFC 2104) of a message that names its purpose, then the
-- tenant's and session's SHA-256 (fixed lengths), the head as 8 bytes and the digest
-- (src/crypto/release-proof.ts computes the same). No role may call it.
CREATE FUNCTION session_vault_release_proof_holds(p_tenant text, p_session text, p_head_seq bigint, p_digest bytea, p_proof bytea)
RETURNS boolean LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
  SELECT coalesce((
    SELECT sha256(k.outer_pad || sha256(k.inner_pad || convert_to('session-vault/release/v1', 'UTF8')
             || sha256(convert_to(p_tenant, 'UTF8')) || sha256(convert_to(p_session, 'UTF8')) || int8send(p_head_seq) || p_digest)) = p_proof
      FROM release_key_secret k WHERE k.id = 1), false)
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_release_proof_holds(text, text, bigint, bytea, bytea) FROM PUBLIC;
--> statement-breakpoint
-- The release without a proof is gone: a process of an earlier version finds no such
-- function, and its archive fails with nothing released (the session stays hot).
DROP FUNCTION session_vault_release_archived(text, text, bigint, bytea);
--> statement-breakpoint
CREATE FUNCTION session_vault_release_archived(p_tenant text, p_session text, p_head_seq bigint, p_digest bytea, p_proof bytea)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  PERFORM session_vault_scope(p_tenant);
  IF NOT session_vault_release_proof_holds(p_tenant, p_session, p_head_seq, p_digest, p_proof) THEN
    RAISE EXCEPTION 'session-vault: no release proof for this session, head and digest (only a holder of the vault''s keys releases a session)' USING ERRCODE = 'SV002';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM archives
                  WHERE tenant_id = p_tenant AND session_id = p_session AND head_seq = p_head_seq AND digest = p_digest) THEN
    RAISE EXCEPTION 'session-vault: no verified archive of this session at this head' USING ERRCODE = 'SV002';
  END IF;
  IF EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant_id = p_tenant AND h.session_id = p_session AND h.cleared_at IS NULL) THEN
    RETURN false;
  END IF;
  UPDATE sessions SET status = 'archived'
   WHERE tenant_id = p_tenant AND session_id = p_session AND status = 'active' AND head_seq = p_head_seq;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM set_config('vault.releasing', p_tenant || '/' || p_session, true);
  DELETE FROM events WHERE tenant_id = p_tenant AND session_id = p_session;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('vault.releasing', '', true);
  IF n <> p_head_seq THEN
    RAISE EXCEPTION 'session-vault: the hot rows do not match the archived head' USING ERRCODE = 'SV002';
  END IF;
  RETURN true;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION session_vault_release_archived(text, text, bigint, bytea, bytea) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION session_vault_release_archived(text, text, bigint, bytea, bytea) TO session_vault_retention;
--> statement-breakpoint
-- The guards that name the release function by its signature.
CREATE OR REPLACE FUNCTION session_vault_refuse_event_delete() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_stack text;
BEGIN
  IF coalesce(current_setting('vault.releasing', true), '') <> '' THEN
    GET DIAGNOSTICS v_stack = PG_CONTEXT;
    IF v_stack ~ ('^PL/pgSQL function session_vault_refuse_event_delete\(\) line \d+ at GET DIAGNOSTICS\n'
                  'SQL statement "DELETE FROM events WHERE tenant_id = p_tenant AND session_id = p_session"\n'
                  'PL/pgSQL function (public\.)?session_vault_(release_archived\(text,text,bigint,bytea,bytea\)|clear_stray_events\(text,text\)) line \d+ at SQL statement$') THEN
      RETURN NULL;
    END IF;
  END IF;
  RAISE EXCEPTION 'session-vault: events rows are append-only (DELETE refused)' USING ERRCODE = 'SV001';
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION session_vault_status_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_stack text;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
    RETURN NEW;
  END IF;
  IF pg_has_role(current_user, 'session_vault_app', 'USAGE') AND NOT pg_has_role(current_user, 'session_vault_retention', 'USAGE')
     AND NOT (TG_OP = 'INSERT' AND NEW.status = 'active')
     AND NOT (TG_OP = 'UPDATE' AND OLD.status = 'archived' AND NEW.status = 'active') THEN
    RAISE EXCEPTION 'session-vault: only the retention or operator role archives or purges a session' USING ERRCODE = 'SV003';
  END IF;
  IF TG_OP = 'INSERT' AND NEW.status IS DISTINCT FROM 'active' THEN
    RAISE EXCEPTION 'session-vault: a new session is active' USING ERRCODE = 'SV003';
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.status = 'archived' THEN
    GET DIAGNOSTICS v_stack = PG_CONTEXT;
    IF v_stack !~ ('^PL/pgSQL function session_vault_status_guard\(\) line \d+ at GET DIAGNOSTICS\n'
                   'SQL statement "UPDATE sessions SET status = ''archived''\n'
                   '   WHERE tenant_id = p_tenant AND session_id = p_session AND status = ''active'' AND head_seq = p_head_seq"\n'
                   'PL/pgSQL function (public\.)?session_vault_release_archived\(text,text,bigint,bytea,bytea\) line \d+ at SQL statement$') THEN
      RAISE EXCEPTION 'session-vault: a session is archived only by the release function, with its archive recorded' USING ERRCODE = 'SV003';
    END IF;
  END IF;
  RETURN NEW;
END
$$;
