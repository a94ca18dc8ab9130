/**
 * `session-vault/openai-agents`: VaultAgentSession, a `Session` of the OpenAI Agents SDK
 * kept in the vault (`@openai/agents` is an optional peer dependency: install it to use
 * this entry).
 */
export { VaultAgentSession } from './integrations/openai/agents-session';
