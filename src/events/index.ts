export { splitEvent, joinEvent } from './payload';
export type { SplitEvent } from './payload';
export { encodeForHash, eventHash, contentAad, contentAadV2, eventKeyInput, SEAL_V1, SEAL_V2, GENESIS_HASH, EVENT_HASH_TAG, EVENT_CONTENT_TAG } from './encoding';
export type { HashedColumns } from './encoding';
export { ChainVerifier } from './chain';
export type { ChainProblem, ChainProblemKind } from './chain';
export { sealEvent, openEvent, eventKey } from './seal';
export type { SealContext, OpeningKey } from './seal';
export { shredMarker, readShredMarker, CLEAR_KEY_VERSION } from './shred-marker';
