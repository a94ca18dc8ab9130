export { openVault, DEFAULT_HOME } from './open';
export type { VaultOptions } from './open';
export { Vault, VaultSession } from './vault';
export type { SessionSummary } from './vault';
export type { AppendOptions, AppendResult } from './append';
export type { VerifyReport, VerifyProblem, VerifyScope } from './verify';
export type { CheckpointResult } from './checkpoint';
export type { ExportOptions } from './export';
