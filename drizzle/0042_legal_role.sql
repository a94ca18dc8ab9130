-- The legal role: legal holds apart from the rest of administration.
--
-- Since 0040 the operator role administers the vault, holds included: a thief with an
-- operator's database credentials could lift a legal hold, then shred or purge the session
-- it protected (the guards refuse both only while the hold stands). The vault's own purge
-- and shred refuse a hold lifted outside the trail, and verify names it; the database did
-- not refuse it. Now only session_vault_legal places and lifts holds, and it administers
-- nothing else: evidence under a hold is destroyed only by two roles together, the legal
-- desk's and the operators'. session_vault_legal is a member of session_vault_app (it
-- reads, and locks the session a hold is placed on); a login granted both it and
-- session_vault_operator (a superuser, the embedded store) does both, one role a
-- transaction (src/vault/shred.ts, setHold and clearHold).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'session_vault_legal') THEN
    CREATE ROLE session_vault_legal NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- created concurrently by a migration of another database on the same server
END
$$;
--> statement-breakpoint
GRANT session_vault_app TO session_vault_legal;
--> statement-breakpoint
REVOKE INSERT, UPDATE ON legal_holds FROM session_vault_operator;
--> statement-breakpoint
GRANT INSERT, UPDATE (cleared_at, cleared_by, clear_reason) ON legal_holds TO session_vault_legal;
