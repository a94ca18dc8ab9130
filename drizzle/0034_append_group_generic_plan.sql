-- session_vault_append_group plans its statements once, not on every call. Its parameters
-- are arrays whose lengths a custom plan knows and a generic one guesses, so PostgreSQL's
-- default (plan_cache_mode = auto) kept choosing custom plans: the UPDATE of the group's
-- heads, the checkpoints' INSERT and the rows' INSERT were planned again each time a group
-- was written. The generic plans are the ones a custom plan picks for any group size (each
-- session's head by its primary key, rows and checkpoints from the arrays). Measured with 8
-- sessions appending at once, by turns: 184–196 µs an append against 199–212. Nothing else
-- changes: the same function, privileges and rules (ALTER keeps them).
ALTER FUNCTION session_vault_append_group(text, text[], bigint[], text[], text[], integer[], bigint[], text[], timestamptz[], text[], text[], text[],
  integer[], integer[], double precision[], bigint[], integer[], integer[], bytea, bytea, bytea) SET plan_cache_mode = force_generic_plan;
