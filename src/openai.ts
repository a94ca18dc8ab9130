/**
 * `session-vault/openai`: RecordedChat, which records chat completions and tool calls in
 * the vault as they happen, on the official `openai` client (an optional peer dependency:
 * install it to use this entry). The context strategies, prices and UserMemory it uses are
 * in the root entry and re-exported here.
 */
export { RecordedChat } from './integrations/openai/chat';
export type { RecordedChatOptions, TurnResult, ToolDefinition, ToolRegistry } from './integrations/openai/chat';
export { fullHistory, slidingWindow, summaryPlusRecent, tokenBudget, costOf, DEFAULT_PRICES, UserMemory } from './index';
export type { ContextStrategy, ContextReach, PriceTable, Fact } from './index';
