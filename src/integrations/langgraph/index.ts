export { VaultCheckpointSaver } from './saver';
export type { VaultCheckpointSaverOptions } from './saver';
export { sessionOfThread, isThreadSession } from './thread';
