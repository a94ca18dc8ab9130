-- Two event types of the LangGraph checkpointer (src/integrations/langgraph/):
-- `graph_checkpoint` (a checkpoint, its metadata and changed channel values) and
-- `graph_writes` (a task's pending writes against a checkpoint). Both are sealed whole;
-- only the type and time are in clear.
ALTER TABLE events DROP CONSTRAINT events_type;
--> statement-breakpoint
ALTER TABLE events ADD CONSTRAINT events_type CHECK (type IN ('message', 'tool_call', 'tool_result', 'state_patch', 'task', 'summary', 'key_shredded', 'model_error', 'agent_item', 'retraction', 'instructions', 'usage', 'graph_checkpoint', 'graph_writes'));
