import globalSetup from './global-setup';
import globalTeardown from './global-teardown';

/** vitest's form of the jest global setup: both backends, the same way. */
export async function setup(): Promise<void> {
  await globalSetup();
}

export async function teardown(): Promise<void> {
  await globalTeardown();
}
