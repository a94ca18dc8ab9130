import sodiumModule from 'libsodium-wrappers';

let instance: typeof sodiumModule | null = null;

/** Loads libsodium (WASM) once. Every async entry point (openVault, CLI) awaits it first. */
export async function ensureSodium(): Promise<void> {
  if (!instance) {
    await sodiumModule.ready;
    instance = sodiumModule;
  }
}

/** The loaded libsodium; throws if `ensureSodium()` has not completed (a programming error). */
export function sodium(): typeof sodiumModule {
  if (!instance) throw new Error('libsodium used before ensureSodium() resolved');
  return instance;
}
