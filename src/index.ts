/**
 * session-vault: an encrypted, hash-chained, append-only session log for AI agents.
 * The library's public surface; see README.md for a tour.
 */
export { openVault, Vault, VaultSession, DEFAULT_HOME } from './vault';
export type { VaultOptions, AppendOptions, AppendResult, VerifyReport, VerifyProblem, VerifyScope, SessionSummary, RetentionView, ArchiveResult, PurgeResult, RetentionItem } from './vault';
export { VaultError, InputError, KeyError, IntegrityError, StorageError, EXIT_CODES } from './errors';
export type { ErrorCode, ErrorCategory } from './errors';
export { withCorrelationId, currentCorrelationId, createLogger } from './observability';
export type { EventInput, EventType, VaultEvent, StoredEvent } from './domain';
export { parseEvent, LIMITS } from './domain';
export type { AgentState, ReplayPoint } from './replay';
export type { KeyProvider, TenantKeyRef } from './keys';
export { importMessages, toOpenAiMessages, MESSAGE_FORMATS } from './integrations';
export { RecordedChat, fullHistory, slidingWindow, summaryPlusRecent, tokenBudget, costOf, DEFAULT_PRICES, UserMemory, VaultAgentSession } from './integrations/openai';
export type { RecordedChatOptions, TurnResult, ToolDefinition, ToolRegistry, ContextStrategy, PriceTable, Fact } from './integrations/openai';
