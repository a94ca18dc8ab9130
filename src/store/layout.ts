import { InputError } from '../errors';

/**
 * Where a vault lives inside its database: the schema holding its tables and functions,
 * the schema holding drizzle's record of applied migrations, and the (cluster-wide) role
 * the application acts as. Names are plain lower-case identifiers, so they go into SQL
 * unquoted and unescaped, and a name that is not one is refused before any SQL runs.
 */
export interface StoreLayout {
  readonly schema: string;
  readonly migrationsSchema: string;
  readonly appRole: string;
  /** The read-only role beside it (drizzle/0022_auditor_role.sql): `…_app` becomes `…_auditor`. */
  readonly auditorRole: string;
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

export function storeLayout(schema: string = DEFAULT_SCHEMA, appRole: string = DEFAULT_APP_ROLE): StoreLayout {
  for (const [what, name] of [['schema', schema], ['application role', appRole]] as const) {
    if (!IDENTIFIER.test(name) || RESERVED.test(name)) {
      throw new InputError('INVALID_CONFIG', `the ${what} name must be a lower-case identifier (a-z, 0-9, _; 1..63, not pg_…): got ${JSON.stringify(name.slice(0, 80))}`);
    }
  }
  const auditorRole = `${appRole.endsWith('_app') ? appRole.slice(0, -4) : appRole}_auditor`;
  if (auditorRole.length > 63) throw new InputError('INVALID_CONFIG', 'the application role name leaves no room for its auditor role (…_auditor, 63 characters at most)');
  return { schema, migrationsSchema: schema === LEGACY_SCHEMA ? 'drizzle' : schema, appRole, auditorRole };
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
  let out = text.replace(/\bsession_vault_app\b/g, layout.appRole).replace(/\bsession_vault_auditor\b/g, layout.auditorRole);
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
