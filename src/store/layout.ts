import { InputError } from '../errors';

/**
 * Where a vault lives inside its database: the schema holding its tables and functions,
 * the schema holding drizzle's record of applied migrations, the (cluster-wide) roles of
 * its family, and the one this process's connections act as. Names are plain lower-case
 * identifiers, so they go into SQL unquoted and unescaped, and a name that is not one is
 * refused before any SQL runs.
 *
 * The family (docs/operations.md, "Database roles"): the application role appends and reads;
 * the retention role is a member of it and may also archive, purge and restore (the
 * retention job: 0044); the operator role is a member of that and may also create
 * tenants, change keys, retention policies and tokens (drizzle/0040_operator_role.sql);
 * the legal role is a member of the application role and may also place and lift legal
 * holds, and nothing else (0042); the auditor role only reads (0022). `…_app`,
 * `…_retention`, `…_operator`, `…_legal` and `…_auditor` share a prefix.
 */
export interface StoreLayout {
  readonly schema: string;
  readonly migrationsSchema: string;
  readonly appRole: string;
  /** The role that administers the vault: `…_app` becomes `…_operator`. */
  readonly operatorRole: string;
  /** The retention job's role (archive, purge, restore): `…_app` becomes `…_retention`. */
  readonly retentionRole: string;
  /** The role that places and lifts legal holds: `…_app` becomes `…_legal`. */
  readonly legalRole: string;
  /** The read-only role: `…_app` becomes `…_auditor`. */
  readonly auditorRole: string;
  /** The role this process's connections act as: one of the five. */
  readonly role: string;
  /** Whether `role` was asked for (`--app-role`); if not, it is the operator role where the login may act as it, else the retention role where it may, else the application role. */
  readonly roleAsked: boolean;
}

export const DEFAULT_SCHEMA = 'session_vault';
export const DEFAULT_APP_ROLE = 'session_vault_app';

/**
 * Vaults made before the schema was configurable keep their tables in `public` and
 * drizzle's record in `drizzle`: asking for `public` (or opening such a vault without
 * asking for a schema) is that layout.
 */
const LEGACY_SCHEMA = 'public';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const RESERVED = /^(pg_|information_schema$)/;

const FAMILY = /^(.+)_(app|operator|retention|legal|auditor)$/;

/**
 * The layout of `schema` whose connections act as `role`. The role names its family: any
 * of `x_app`, `x_operator`, `x_retention`, `x_legal` and `x_auditor` is of the family `x_…`; a name
 * without one of those endings is an application role, and its other roles add one. No
 * role asked for: the default family, acting as its operator role (openStore may settle
 * for the application role: actingRole).
 */
export function storeLayout(schema: string = DEFAULT_SCHEMA, role?: string): StoreLayout {
  for (const [what, name] of [['schema', schema], ['role', role ?? DEFAULT_APP_ROLE]] as const) {
    if (!IDENTIFIER.test(name) || RESERVED.test(name)) {
      throw new InputError('INVALID_CONFIG', `the ${what} name must be a lower-case identifier (a-z, 0-9, _; 1..63, not pg_…): got ${JSON.stringify(name.slice(0, 80))}`);
    }
  }
  const named = FAMILY.exec(role ?? DEFAULT_APP_ROLE);
  const prefix = named ? named[1]! : role!;
  const appRole = named ? `${prefix}_app` : role!;
  const [operatorRole, retentionRole, legalRole, auditorRole] = [`${prefix}_operator`, `${prefix}_retention`, `${prefix}_legal`, `${prefix}_auditor`];
  if (retentionRole.length > 63) throw new InputError('INVALID_CONFIG', 'the application role name leaves no room for the other roles of its family (…_retention, 63 characters at most)');
  return { schema, migrationsSchema: schema === LEGACY_SCHEMA ? 'drizzle' : schema, appRole, operatorRole, retentionRole, legalRole, auditorRole, role: role ?? operatorRole, roleAsked: role !== undefined };
}

/**
 * The role a transaction placing or lifting a legal hold acts as: the legal role, unless
 * this process was asked to act as one role (`--app-role`), which it then keeps, so that
 * asking for less is never quietly made more. The database decides whether the login may
 * act as it (a superuser, the embedded store and a legal desk's login may; an operator's
 * may not): otherwise PERMISSION_DENIED, and nothing changes.
 */
export function holdRole(layout: StoreLayout): string | null {
  return layout.roleAsked ? null : layout.legalRole;
}

/**
 * The role to act as, when none was asked for: the operator role if the login may act as
 * it (a superuser, the embedded store, an operator's login), else the retention role if
 * it may (the retention job's login), else the application role. What a login may do is
 * decided by the roles it was granted, not by this choice: a process acts with the most
 * its login allows, and the agent's login is granted the application role only
 * (docs/operations.md).
 */
export function actingRole(layout: StoreLayout, may: { operate: boolean; retain: boolean }): StoreLayout {
  if (layout.roleAsked || may.operate) return layout;
  return { ...layout, role: may.retain ? layout.retentionRole : layout.appRole };
}

/**
 * The layout to open: the one asked for; or, when none was asked for, the default unless
 * the database holds a vault of the legacy layout and none of the default one.
 */
export async function resolveLayout(
  requested: { schema?: string | undefined; appRole?: string | undefined },
  query: <R>(text: string) => Promise<R[]>,
): Promise<StoreLayout> {
  if (requested.schema !== undefined) return storeLayout(requested.schema, requested.appRole);
  const preferred = storeLayout(DEFAULT_SCHEMA, requested.appRole);
  const [found] = await query<{ current: boolean; legacy: boolean }>(
    `SELECT to_regclass('${preferred.schema}.events') IS NOT NULL AS current, to_regclass('${LEGACY_SCHEMA}.events') IS NOT NULL AS legacy`,
  );
  return !found!.current && found!.legacy ? storeLayout(LEGACY_SCHEMA, requested.appRole) : preferred;
}

/**
 * A migration's SQL for a layout. The files in drizzle/ are written for the legacy one
 * (tables in `public`, drizzle's record in `drizzle`, role session_vault_app), so that
 * vaults made by earlier versions see byte-identical migrations; every other layout gets
 * those names replaced. Pure: tested on every file (no `public` or default role left).
 */
export function migrationSql(text: string, layout: StoreLayout): string {
  let out = text
    .replace(/\bsession_vault_app\b/g, layout.appRole)
    .replace(/\bsession_vault_operator\b/g, layout.operatorRole)
    .replace(/\bsession_vault_retention\b/g, layout.retentionRole)
    .replace(/\bsession_vault_legal\b/g, layout.legalRole)
    .replace(/\bsession_vault_auditor\b/g, layout.auditorRole);
  if (layout.schema !== LEGACY_SCHEMA) {
    out = out
      .replace(/"public"\./g, `"${layout.schema}".`)
      .replace(/\(public\\\.\)\?/g, `(${layout.schema}\\.)?`)
      .replace(/search_path = public, pg_temp/g, `search_path = ${layout.schema}, pg_temp`)
      .replace(/\bSCHEMA public\b/g, `SCHEMA ${layout.schema}`)
      .replace(/\bSCHEMA drizzle\b/g, `SCHEMA ${layout.migrationsSchema}`)
      .replace(/\bdrizzle\.__drizzle_migrations\b/g, `${layout.migrationsSchema}.__drizzle_migrations`);
  }
  return out;
}
