import { sql } from 'drizzle-orm';
import { storageError } from '../errors';
import type { StoreLayout } from '../layout';
import { rowsOf, type VaultDb } from '../types';

/** One login role of the server, and which of the vault's roles it may act as. */
export interface LoginRoles {
  login: string;
  /** A superuser may act as any role and bypasses row-level security. */
  superuser: boolean;
  /** Bypasses row-level security (`BYPASSRLS`): sees every tenant's rows in tables it may read. */
  bypassRls: boolean;
  /** A member of the role, directly or through other roles (`pg_has_role … MEMBER`). */
  app: boolean;
  operator: boolean;
  retention: boolean;
  legal: boolean;
  auditor: boolean;
}

/**
 * Every login role of the server (the catalog is the cluster's, readable by any role),
 * with the vault roles of `layout`'s family it may act as, in name order, and the login
 * and role this connection is. Logins that may act as none of them, and are not
 * superusers, are left out.
 */
export async function roleMembers(db: VaultDb, layout: StoreLayout): Promise<{ session: { login: string; role: string }; logins: LoginRoles[] }> {
  try {
    const res = await db.execute(sql`
      SELECT r.rolname AS login, r.rolsuper AS superuser, r.rolbypassrls AS bypass_rls,
             pg_has_role(r.oid, ${layout.appRole}, 'MEMBER') AS app,
             pg_has_role(r.oid, ${layout.operatorRole}, 'MEMBER') AS operator,
             pg_has_role(r.oid, ${layout.retentionRole}, 'MEMBER') AS retention,
             pg_has_role(r.oid, ${layout.legalRole}, 'MEMBER') AS legal,
             pg_has_role(r.oid, ${layout.auditorRole}, 'MEMBER') AS auditor,
             session_user AS session_login, current_user AS session_role
        FROM pg_roles r
       WHERE r.rolcanlogin
       ORDER BY r.rolname`);
    const rows = rowsOf<{ login: string; superuser: boolean; bypass_rls: boolean; app: boolean; operator: boolean; retention: boolean; legal: boolean; auditor: boolean; session_login: string; session_role: string }>(res);
    const logins = rows
      .filter((r) => r.superuser || r.app || r.operator || r.retention || r.legal || r.auditor)
      .map((r) => ({ login: r.login, superuser: r.superuser, bypassRls: r.bypass_rls, app: r.app, operator: r.operator, retention: r.retention, legal: r.legal, auditor: r.auditor }));
    return { session: { login: rows[0]?.session_login ?? '?', role: rows[0]?.session_role ?? layout.role }, logins };
  } catch (e) {
    throw storageError(e, 'reading who may act as the vault roles');
  }
}
