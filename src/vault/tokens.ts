import { InputError, KeyError } from '../errors';
import { isoTime, LATEST_STORED_TIME, TENANT_ID_PATTERN, TOKEN_PATTERN } from '../domain';
import { insertToken, listTokens, readToken, readTokenRecords, revocationRecorded, revokeTokenRow, withTenant, type TokenRow } from '../store';
import { recordInPeriod } from '../audit';
import { ownRecords } from './own-records';
import { grantSignedBy, newToken, parseToken, ROLES, secretMatches, signGrant, type Role, type TokenGrant } from '../tokens';
import type { VaultDeps } from './deps';
import { requireTenant } from './archive';

/** Who a presented token is: the service acts as this principal, never as a self-asserted actor. */
export interface Principal {
  tenant: string;
  tokenId: string;
  role: Role;
  label: string | null;
  /** The name the access trail records for this principal's operator access: `token:<id>`. */
  actor: string;
}

/** A token as `tokens list` shows it: never its secret or hash. */
export interface TokenInfo {
  id: string;
  tenant: string;
  role: Role;
  label: string | null;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
}

/** What to grant. */
export interface TokenSpec {
  role: Role;
  label?: string;
  /** When the token stops working; none: until revoked. */
  expiresAt?: Date;
}

/** Refuses a bad spec before anything is recorded or written. */
export function checkTokenSpec(spec: TokenSpec, now: Date): void {
  if (!(ROLES as readonly string[]).includes(spec.role)) throw new InputError('INVALID_INPUT', `role must be one of ${ROLES.join(', ')}`);
  if (spec.label !== undefined && !TOKEN_PATTERN.test(spec.label)) throw new InputError('INVALID_INPUT', 'label must be 1..128 printable ASCII characters');
  if (spec.expiresAt !== undefined && !(spec.expiresAt.getTime() > now.getTime() && spec.expiresAt.getTime() < LATEST_STORED_TIME)) {
    throw new InputError('INVALID_INPUT', 'the expiry must be a valid time in the future, before the year 9999');
  }
}

/**
 * Creates a token: a random secret shown once (the returned `token`), its hash and the
 * grant signed with the vault's signing key. KEY_NOT_FOUND when the vault signs nothing:
 * an unsigned grant could not be told from one the database forged.
 */
export async function createToken(deps: VaultDeps, tenant: string, spec: TokenSpec, createdBy: string, made = newToken(tenant)): Promise<{ token: string; info: TokenInfo }> {
  await requireTenant(deps, tenant);
  const signer = await deps.signer();
  if (!signer) throw new KeyError('KEY_NOT_FOUND', 'API tokens are signed grants, and this vault has no signing key');
  const grant: TokenGrant = {
    id: made.id,
    tenant,
    role: spec.role,
    label: spec.label ?? null,
    secretHash: made.secretHash,
    createdAt: deps.clock(),
    expiresAt: spec.expiresAt ?? null,
    createdBy,
  };
  const signed = signGrant(grant, signer);
  await withTenant(deps.store.db, tenant, 'creating an API token', (tx) => insertToken(tx, { ...grant, ...signed }));
  return { token: made.token, info: infoOf({ ...grant, ...signed, revokedAt: null, revokedBy: null }) };
}

/** Revokes a token for good. UNKNOWN_TOKEN if the tenant has no such token; false if it was already revoked. */
export async function revokeToken(deps: VaultDeps, tenant: string, id: string, by: string): Promise<boolean> {
  return withTenant(deps.store.db, tenant, 'revoking an API token', async (tx) => {
    const row = await readToken(tx, tenant, id);
    if (!row) throw new InputError('UNKNOWN_TOKEN', `tenant ${tenant} has no token ${id}`);
    if (row.revokedAt) return false;
    return revokeTokenRow(tx, tenant, id, by, deps.clock());
  });
}

/** A tenant's tokens, revoked ones included: ids, roles, labels and dates, never secrets. */
export async function tokenList(deps: VaultDeps, tenant: string): Promise<TokenInfo[]> {
  await requireTenant(deps, tenant);
  const rows = await withTenant(deps.store.db, tenant, 'listing API tokens', (tx) => listTokens(tx, tenant));
  return rows.map(infoOf);
}

/**
 * The principal a presented token stands for. UNAUTHENTICATED (one message for every
 * reason, so a caller learns nothing about which part was wrong) unless the token is
 * well formed, its row exists, the secret matches its hash, the grant's signature is by a
 * key the vault trusts (a retired one's only as grantedInPeriod says), and it is neither
 * revoked (in its row, or in the access trail, which a database owner cannot quietly
 * edit) nor expired.
 */
export async function authenticate(deps: VaultDeps, token: string): Promise<Principal> {
  const refused = new InputError('UNAUTHENTICATED', 'the API token is missing, malformed, unknown, revoked or expired');
  const presented = typeof token === 'string' ? parseToken(token) : null;
  if (!presented || !TENANT_ID_PATTERN.test(presented.tenant)) throw refused;
  const row = await withTenant(deps.store.db, presented.tenant, 'reading an API token', (tx) => readToken(tx, presented.tenant, presented.id));
  if (!row || !secretMatches(presented.secret, row.secretHash)) throw refused;
  const publicKey = (await deps.trustedKeys()).get(row.keyId);
  if (!publicKey || !(ROLES as readonly string[]).includes(row.role) || !grantSignedBy(grantOf(row), row.signature, publicKey)) throw refused;
  if (!(await grantedInPeriod(deps, row))) throw refused;
  const now = deps.clock().getTime();
  if (row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= now)) throw refused;
  // The row's revocation stamp is outside the signed grant; the signed, witnessed trail is not.
  if (await revocationRecorded(deps.store.db, row.tenant, row.id)) throw refused;
  return { tenant: row.tenant, tokenId: row.id, role: row.role as Role, label: row.label, actor: `token:${row.id}` };
}

/**
 * Whether a grant's signature counts by when it was made. A key still in its period (or
 * one the keyring gives none) signs grants as the vault issues them. A retired key's
 * secret half may be in someone's hands (keyring.json.previous, a backup), and with the
 * operator role's credentials they could store a grant of their own, dated as they like:
 * so a retired key's grant counts only when dated in its period and when the trail
 * records its creation (`tokens.create:<id>:<role>`) as the vault's own, which a retired
 * key's record is only before its successor signed one (audit/key-period.ts; `keys
 * rotate-signing` has it sign one at once).
 */
async function grantedInPeriod(deps: VaultDeps, row: TokenRow): Promise<boolean> {
  const periods = await deps.keyPeriods();
  if (!periods.get(row.keyId)?.until) return true;
  if (!recordInPeriod(row.keyId, row.createdAt, periods, false, null)) return false; // the grant's date; its record's storage time is held to the period below
  return withTenant(deps.store.db, row.tenant, "reading a token's record", async (tx) =>
    (await ownRecords(deps, tx, await readTokenRecords(tx, row.tenant, row.id), true)).some((r) => r.action === `tokens.create:${row.id}:${row.role}` && r.outcome === 'granted'),
  );
}

function grantOf(r: TokenRow): TokenGrant {
  return { id: r.id, tenant: r.tenant, role: r.role as Role, label: r.label, secretHash: r.secretHash, createdAt: r.createdAt, expiresAt: r.expiresAt, createdBy: r.createdBy };
}

function infoOf(r: TokenRow): TokenInfo {
  return {
    id: r.id,
    tenant: r.tenant,
    role: r.role as Role,
    label: r.label,
    createdAt: isoTime(r.createdAt),
    createdBy: r.createdBy,
    expiresAt: r.expiresAt === null ? null : isoTime(r.expiresAt),
    revokedAt: r.revokedAt === null ? null : isoTime(r.revokedAt),
    revokedBy: r.revokedBy,
  };
}
