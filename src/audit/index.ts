export {
  checkpointBody,
  signCheckpoint,
  parseCheckpoint,
  verifyCheckpoint,
  requireCheckpoint,
  noteKeyHash,
  origin,
  CHECKPOINT_ORIGIN_PREFIX,
} from './checkpoint';
export type { Checkpoint, CheckpointSigner, CheckpointProblem, VerifiedCheckpoint } from './checkpoint';
export { FolderWitness } from './witness';
export type { Witness } from './witness';
export { HeadCheck } from './head-check';
export type { HeadProblemKind, SignedHead } from './head-check';
