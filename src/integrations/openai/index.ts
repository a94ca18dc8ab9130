export { RecordedChat } from './chat';
export type { RecordedChatOptions, TurnResult, ToolDefinition, ToolRegistry } from './chat';
export { fullHistory, slidingWindow, summaryPlusRecent, tokenBudget, conversationGroups, estimateTokens, isGroupBoundary } from './context';
export type { ContextStrategy, ContextRequest, ContextServices, ContextGroup, ContextReach } from './context';
export { costOf, DEFAULT_PRICES } from './prices';
export type { PriceTable, ModelPrice } from './prices';
export { UserMemory } from './memory';
export type { Fact } from './memory';
export { VaultAgentSession } from './agents-session';
