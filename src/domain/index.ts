export { tenantId, sessionId, correlationId, keyedBatch, TENANT_ID_PATTERN, SESSION_ID_PATTERN, TOKEN_PATTERN, BATCH_KEY_PATTERN } from './ids';
export type { TenantId, SessionId } from './ids';
export { LIMITS } from './limits';
export { isoTime, LATEST_STORED_TIME } from './times';
export {
  parseEvent,
  parseEvents,
  eventData,
  eventInput,
  EVENT_TYPES,
  SYSTEM_EVENT_TYPES,
  STORED_EVENT_TYPES,
  MESSAGE_ROLES,
} from './events';
export type {
  EventInput,
  EventType,
  StoredEventType,
  EventData,
  MessageRole,
  MessageEvent,
  ToolCallEvent,
  ToolResultEvent,
  StatePatchEvent,
  TaskEvent,
  SummaryEvent,
} from './events';
export type { VaultEvent, StoredEvent, ClearFields } from './stored';
export { eventStream, chunksOf, collectEvents } from './event-stream';
export type { EventStream, EventSource } from './event-stream';
export type { AccessRecord } from './access';
