export { withCorrelationId, withContext, currentContext, currentCorrelationId } from './context';
export type { OperationContext } from './context';
export { createLogger, REDACT_PATHS } from './logger';
export type { Logger } from './logger';
