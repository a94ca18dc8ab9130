export { applyMergePatch } from './merge-patch';
export type { Json } from './merge-patch';
export { initialState, evolve } from './state';
export type { AgentState, ReplayedMessage, ReplayedToolCall } from './state';
export { replay, replayFrom, isPast } from './fold';
export type { ReplayPoint } from './fold';
