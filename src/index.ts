/**
 * session-vault: an encrypted, hash-chained, append-only session log for AI agents.
 * The library's public surface; see README.md for a tour.
 *
 * This entry needs none of the optional peer dependencies. The integrations that do are
 * entries of their own: `session-vault/openai` (RecordedChat, needs `openai`) and
 * `session-vault/openai-agents` (VaultAgentSession, needs `@openai/agents`).
 */
export { openVault, Vault, VaultSession, DEFAULT_HOME, OperatorAccess } from './vault';
export type {
  VaultOptions,
  AppendOptions,
  AppendResult,
  VerifyReport,
  VerifyProblem,
  VerifyScope,
  SessionSummary,
  RetentionView,
  RoleReport,
  ArchiveResult,
  PurgeResult,
  RetentionItem,
  CheckpointResult,
  ExportOptions,
  StateOptions,
  Operator,
  TenantKeyInfo,
  KeyCheckReport,
  KeyProblem,
  MasterRotation,
} from './vault';
export { VaultError, InputError, KeyError, IntegrityError, StorageError, EXIT_CODES } from './errors';
export type { ErrorCode, ErrorCategory } from './errors';
export { withCorrelationId, currentCorrelationId, createLogger } from './observability';
export type { Logger } from './observability';
export type { EventInput, EventType, VaultEvent, StoredEvent, EventStream } from './domain';
export { parseEvent, LIMITS } from './domain';
export type { AgentState, ReplayPoint, StateWindow, Landmarks } from './replay';
export type { KeyProvider, TenantKeyRef, KmsKeyProviderOptions, KmsSettings, Pkcs11KeyProviderOptions, Pkcs11SignerOptions } from './keys';
export { EnvKeyProvider, KmsKeyProvider, Pkcs11KeyProvider, Pkcs11Signer, chainKeyProviders } from './keys';
export { SecretBytes, exposeSecretBytes } from './crypto';
export type { CheckpointSigner } from './audit';
export type { S3Settings, ObjectLockMode } from './objects';
export { importMessages, toOpenAiMessages, MESSAGE_FORMATS } from './integrations/message-formats';
export type { MessageFormat, OpenAiMessage } from './integrations/message-formats';
export { fullHistory, slidingWindow, summaryPlusRecent, tokenBudget, conversationGroups, estimateTokens, isGroupBoundary } from './integrations/openai/context';
export type { ContextStrategy, ContextRequest, ContextServices, ContextGroup, ContextReach } from './integrations/openai/context';
export { costOf, DEFAULT_PRICES } from './integrations/openai/prices';
export type { PriceTable, ModelPrice } from './integrations/openai/prices';
export { UserMemory } from './integrations/openai/memory';
export type { Fact } from './integrations/openai/memory';
