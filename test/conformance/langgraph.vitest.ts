import { randomBytes } from 'node:crypto';
import { validate } from '@langchain/langgraph-checkpoint-validation';
import { backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { openVault, type Vault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { VaultCheckpointSaver } from '../../src/integrations/langgraph';

/**
 * LangGraph's own conformance suite for checkpointers (@langchain/langgraph-checkpoint-validation),
 * unmodified, against VaultCheckpointSaver on each backend. It is written for vitest
 * (expect.soft), so it runs under vitest as its own step of `npm test`. Each checkpointer
 * it asks for gets a tenant of its own, so threads with fixed ids ("1", "thread-1") never
 * meet across its test groups.
 */
for (const backend of backends()) {
  let vault: Vault;
  validate<VaultCheckpointSaver>({
    checkpointerName: `VaultCheckpointSaver (${backend.name})`,
    beforeAllTimeout: 120_000,
    async beforeAll() {
      const h = await tempHome();
      vault = await openVault({ home: h.home, keyring: h.keyring, database: await backend.database(), logger: createLogger({ level: 'silent' }) });
    },
    async afterAll() {
      await vault.close();
      await dropCreatedDatabases();
    },
    async createCheckpointer() {
      const tenant = `lg-${randomBytes(5).toString('hex')}`;
      await vault.createTenant(tenant);
      return new VaultCheckpointSaver({ vault, tenant });
    },
  });
}
