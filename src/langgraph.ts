/**
 * `session-vault/langgraph`: VaultCheckpointSaver, LangGraph's checkpointer on the vault
 * (`@langchain/langgraph-checkpoint` and `@langchain/core` are optional peer dependencies:
 * install them to use this entry). docs/langgraph.md.
 */
export { VaultCheckpointSaver, sessionOfThread } from './integrations/langgraph';
export type { VaultCheckpointSaverOptions } from './integrations/langgraph';
