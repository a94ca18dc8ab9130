-- Every PL/pgSQL function of the vault resolves the tables it names in the vault's own
-- schema, whatever search_path the caller has. Before this, a trigger or guard looked its
-- tables up through the caller's search_path: a session that put a schema of its own first
-- (with an empty legal_holds, say) could have a guard consult the wrong table, and a DBA
-- session without the vault's schema on its path got "relation does not exist" instead of
-- the guard's answer. The migration runs with the vault's schema first on its path
-- (src/store/migrate.ts), so current_schema() is that schema.
DO $$
DECLARE
  f record;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure AS signature
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE p.pronamespace = current_schema()::regnamespace AND l.lanname = 'plpgsql' AND p.proname LIKE 'session\_vault\_%'
  LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f.signature, current_schema());
  END LOOP;
END
$$;
