import type { Vault } from '../vault';
import { createLogger } from '../observability';
import { buildService } from './server';

/**
 * The service's OpenAPI 3.1 document, built from the same route definitions and zod
 * schemas the server runs (docs/openapi.json is this, written by `session-vault openapi`).
 * No request is served while building it, so no vault is opened: the one routes are built
 * over refuses any use.
 */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const noVault = new Proxy({} as Vault, {
    get() {
      throw new Error('the OpenAPI document is built without a vault');
    },
  });
  const service = await buildService(noVault, { logger: createLogger({ level: 'silent' }) });
  try {
    return service.app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await service.close();
  }
}
