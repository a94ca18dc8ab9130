-- Two more event types of the OpenAI integration: `instructions` (the system prompt and
-- the memory facts the model was given, recorded once per change, sealed) and `usage`
-- (an Agents SDK run's token counts and cost, in the clear columns like a message's).
ALTER TABLE events DROP CONSTRAINT events_type;
--> statement-breakpoint
ALTER TABLE events ADD CONSTRAINT events_type CHECK (type IN ('message', 'tool_call', 'tool_result', 'state_patch', 'task', 'summary', 'key_shredded', 'model_error', 'agent_item', 'retraction', 'instructions', 'usage'));
--> statement-breakpoint
-- Commands that may not migrate check that the schema is current (src/store/migrate.ts),
-- acting as a login that need own nothing: the application role may read which
-- migrations were applied.
GRANT USAGE ON SCHEMA drizzle TO session_vault_app;
--> statement-breakpoint
GRANT SELECT ON drizzle.__drizzle_migrations TO session_vault_app;
