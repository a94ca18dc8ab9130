export { splitEvent, joinEvent } from './payload';
export type { SplitEvent } from './payload';
export { encodeForHash, eventHash, contentAad, GENESIS_HASH, EVENT_HASH_TAG, EVENT_CONTENT_TAG } from './encoding';
export type { HashedColumns } from './encoding';
export { ChainVerifier } from './chain';
export type { ChainProblem, ChainProblemKind } from './chain';
export { sealEvent, openEvent } from './seal';
export type { SealContext } from './seal';
export { shredMarker, readShredMarker, CLEAR_KEY_VERSION } from './shred-marker';
