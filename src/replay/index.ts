export { applyMergePatch } from './merge-patch';
export type { Json } from './merge-patch';
export { initialState, evolve, copyState } from './state';
export { copyEvent, copyEvents, copyJson } from './copy';
export type { AgentState, ReplayedMessage, ReplayedToolCall, StateWindow } from './state';
export { replay, replayFrom, isPast } from './fold';
export type { ReplayPoint } from './fold';
export { trim, evolveCompact, windowOf, replayCompact, isFull, nothingDropped, freshCompact } from './window';
export type { CompactState, Dropped, Landmarks } from './window';
