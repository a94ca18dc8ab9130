export { parseDuration, formatDuration, addDuration, type Duration } from './duration';
export { DEFAULT_POLICY, parsePolicy, describePolicy, decide, purgeDue, withFloor } from './policy';
export type { RetentionMode, RetentionPolicy, RetentionSubject, RetentionDecision } from './policy';
export { encodeArchive, decodeArchive, archiveObjectName, ARCHIVE_FORMAT } from './archive-format';
export type { ArchiveContent, ArchiveObject, ArchiveManifest, ArchiveExpectation } from './archive-format';
