-- Event types of the OpenAI integration (src/integrations/openai/): `model_error` (a
-- failed model call, recorded), `agent_item` (an Agents SDK session item) and
-- `retraction` (the SDK's popItem / clearSession, appended rather than deleting).
ALTER TABLE events DROP CONSTRAINT events_type;
--> statement-breakpoint
ALTER TABLE events ADD CONSTRAINT events_type CHECK (type IN ('message', 'tool_call', 'tool_result', 'state_patch', 'task', 'summary', 'key_shredded', 'model_error', 'agent_item', 'retraction'));
