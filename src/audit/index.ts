export {
  checkpointBody,
  signCheckpoint,
  signNote,
  signBytes,
  splitNote,
  verifyNoteSignatures,
  parseCheckpoint,
  verifyCheckpoint,
  requireCheckpoint,
  noteKeyHash,
  origin,
  CHECKPOINT_ORIGIN_PREFIX,
} from './checkpoint';
export type { Checkpoint, CheckpointSigner, CheckpointProblem, VerifiedCheckpoint } from './checkpoint';
export { ObjectWitness } from './witness';
export { openWitness } from './witness-open';
export type { Witness } from './witness';
export { HeadCheck, signedHeadTime, unsignedTail } from './head-check';
export type { HeadProblemKind, SignedHead } from './head-check';
export { canonicalJson } from './canonical';
export { buildBundle, verifyBundle, sectionDigest, manifestBody, bundleSchema, bundleEvent, toBundleEvent, fromBundleEvent, BUNDLE_FORMAT } from './bundle';
export type { Bundle, BundleEvent, BundleReport, PinnedKeys, BundleProblem, BundleInput, ReplayPointSpec, PlaintextEvent } from './bundle';
export { bundleText } from './bundle-text';
export { accessDigests, accessHash, accessLink, fieldsDigest, sessionCommitment, sessionKeyCommitment, sessionTrailKey, tenantCommitment, AccessChainVerifier, ACCESS_TAG, ACCESS_TAG_V2, ACCESS_SALT_BYTES, TENANT_SECRET_BYTES, TRAIL_ORIGIN, trailHeadBody, signTrailHead, parseTrailHead, recordSigned } from './access';
export type { AccessRecord, AccessProblemKind, TrailHead } from './access';
export { checkHolds, holdsLiftedOutside } from './hold-check';
export { attempted, RECORD_SKEW_MS } from './trail-records';
export type { HoldHistory, HoldProblem, HoldProblemKind } from './hold-check';
export { checkPurges } from './purge-check';
export { signWrap, wrapBody, wrapSigned } from './key-wrap';
export { signSnapshot, snapshotBody, snapshotSigned } from './snapshot-signature';
export { checkpointTimeProblem, laterKeys, keysVouchingAt, recordInPeriod, storedAfterPeriod, KEY_PERIOD_GRACE_MS } from './key-period';
export type { KeyPeriods } from './key-period';
export type { SnapshotPlace, SnapshotSignature } from './snapshot-signature';
export type { StoredWrapSignature, WrapSignature, WrapSubject } from './key-wrap';
export { reviewRoles } from './role-review';
export { parseTrustedKeys, periodsOf, publicKeysDocument } from './public-keys';
export { SINCE_MARGIN_MS, trailLine, trailLineSchema, verifyTrail } from './trail-file';
export type { TrailCheck, TrailLine, TrailProblem, TrailReport, TrailScope } from './trail-file';
export type { PublicKeyEntry } from './public-keys';
export type { RoleFinding, RoleFindingKind } from './role-review';
export type { PurgeProblem, PurgeStamp } from './purge-check';
