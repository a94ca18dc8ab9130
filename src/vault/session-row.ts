import { InputError } from '../errors';
import { readSession, withTenant, type SessionRow } from '../store';
import type { VaultDeps } from './deps';

/** A session's row as it is now, in a transaction of its own; null for a session that does not exist. */
export async function sessionRow(deps: VaultDeps, tenant: string, session: string): Promise<SessionRow | null> {
  return withTenant(deps.store.db, tenant, 'reading a session', (tx) => readSession(tx, tenant, session));
}

/** A session's row as it is now; UNKNOWN_SESSION for a session that does not exist. */
export async function requireSession(deps: VaultDeps, tenant: string, session: string): Promise<SessionRow> {
  const row = await sessionRow(deps, tenant, session);
  if (!row) throw new InputError('UNKNOWN_SESSION', `unknown session ${tenant}/${session}`);
  return row;
}
