import { renameSync } from 'node:fs';
import path from 'node:path';
import type { OperatorAccess } from '../../src/vault';

/**
 * Sets a legal hold, through the vault and recorded, on an archived session whose archive
 * object cannot be read meanwhile (as on a legal desk's host that cannot reach the store),
 * so that the session stays archived under its hold: the state in which the database's
 * guards for held archived sessions are tested. Otherwise `setHold` brings the session back
 * to the database at once. `archive` is the archive folder (the home's `archive`).
 */
export async function holdLeftArchived(op: OperatorAccess, archive: string, tenant: string, session: string): Promise<boolean> {
  const dir = path.join(archive, tenant, session);
  renameSync(dir, `${dir}.away`);
  try {
    return await op.setHold(tenant, session);
  } finally {
    renameSync(`${dir}.away`, dir);
  }
}
