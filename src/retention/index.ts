export { parseDuration, formatDuration, addDuration, atLeast, longer, shorter, type Duration } from './duration';
export { DEFAULT_POLICY, parsePolicy, describePolicy, decide, restoreDue, purgeDue, withFloor, storedPolicy, newSessionFloor } from './policy';
export type { RetentionMode, RetentionPolicy, RetentionSubject, RetentionDecision } from './policy';
export { encodeArchive, decodeArchive, verifyArchive, archiveEventParts, archiveObjectName, objectDigest, ARCHIVE_FORMAT } from './archive-format';
export type { ArchiveContent, ArchiveObject, ArchiveManifest, ArchiveExpectation } from './archive-format';
export { DEFAULT_POLICY_ACTOR, policyAction, policyRecords, promisedRetain, recordedRetain, policyRecorded, floorRecorded } from './recorded-policy';
export type { PolicyRecord, PolicyStamp, FloorStamp, RetentionProblemKind } from './recorded-policy';
