import { openVault, type Vault } from '../../src/vault';
import { storeOf } from '../../src/vault/vault';
import { createLogger } from '../../src/observability';
import type { Statement } from '../../src/store/statement';
import { asOwner } from './owner';

/**
 * A session shredded by another process while this one holds its key, state or events.
 * On Postgres another vault on the same database and keyring does it (`act`, by default
 * an operator's shred); the embedded store admits one process, so there the owner leaves
 * in the database what another's shred would: the session's key gone.
 */
export async function shredElsewhere(
  vault: Vault,
  at: { backend: string; home: string; url: string },
  tenant: string,
  session: string,
  act: (other: Vault) => Promise<unknown> = (other) => other.operator({ actor: 'dpo', reason: 'erasure request' }).shred(tenant, session),
): Promise<void> {
  if (at.backend === 'postgres') {
    const other = await openVault({ home: at.home, database: at.url, logger: createLogger({ level: 'silent' }) });
    try {
      await act(other);
    } finally {
      await other.close();
    }
  } else {
    await asOwner(vault, at.url, [{ text: `UPDATE sessions SET wrapped_data_key = NULL WHERE tenant_id = $1 AND session_id = $2`, values: [tenant, session] }]);
  }
}

/** Counts the statements the vault's store runs from now on. */
export function countStatements(vault: Vault): { readonly n: number } {
  const store = storeOf(vault);
  const run = store.run.bind(store);
  const seen = { n: 0 };
  store.run = async <R,>(statement: Statement, values: readonly unknown[]): Promise<R[]> => {
    seen.n++;
    return run<R>(statement, values);
  };
  return seen;
}
