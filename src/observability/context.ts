import { AsyncLocalStorage } from 'node:async_hooks';

/** What every log line of an operation carries. */
export interface OperationContext {
  correlationId?: string;
  tenant?: string;
  session?: string;
}

const storage = new AsyncLocalStorage<OperationContext>();

/**
 * Runs `fn` with `id` as the ambient correlation id: appends inside it (however deep in
 * async calls) stamp their events with it unless given one explicitly, and log lines
 * carry it.
 */
export function withCorrelationId<T>(id: string, fn: () => T): T {
  return storage.run({ ...storage.getStore(), correlationId: id }, fn);
}

/** Runs `fn` with extra context fields merged over the current ones. */
export function withContext<T>(extra: OperationContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...extra }, fn);
}

/** The ambient context (empty outside any). */
export function currentContext(): OperationContext {
  return storage.getStore() ?? {};
}

/** The ambient correlation id, if any. */
export function currentCorrelationId(): string | undefined {
  return storage.getStore()?.correlationId;
}
