-- Stored events may also be `key_shredded`, the vault's own record closing a session's
-- chain when its key is destroyed (src/events/shred-marker.ts). Input never accepts it.
ALTER TABLE events DROP CONSTRAINT events_type;
--> statement-breakpoint
ALTER TABLE events ADD CONSTRAINT events_type CHECK (type IN ('message', 'tool_call', 'tool_result', 'state_patch', 'task', 'summary', 'key_shredded'));
