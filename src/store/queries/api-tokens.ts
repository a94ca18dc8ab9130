import { and, asc, eq, isNull } from 'drizzle-orm';
import { apiTokens } from '../schema';
import type { TenantTx } from '../types';

/** A token row: the signed grant, its signature, and whether it was revoked. */
export interface TokenRow {
  tenant: string;
  id: string;
  role: string;
  label: string | null;
  secretHash: Uint8Array;
  createdAt: Date;
  createdBy: string;
  expiresAt: Date | null;
  keyId: string;
  signature: Uint8Array;
  revokedAt: Date | null;
  revokedBy: string | null;
}

/** Stores a new token's grant. */
export async function insertToken(tx: TenantTx, r: Omit<TokenRow, 'revokedAt' | 'revokedBy'>): Promise<void> {
  await tx.insert(apiTokens).values({
    tenantId: r.tenant,
    tokenId: r.id,
    role: r.role,
    label: r.label,
    secretHash: r.secretHash,
    createdAt: r.createdAt,
    createdBy: r.createdBy,
    expiresAt: r.expiresAt,
    keyId: r.keyId,
    signature: r.signature,
  });
}

/** One token of a tenant, or null. */
export async function readToken(tx: TenantTx, tenant: string, id: string): Promise<TokenRow | null> {
  const rows = await tx.select().from(apiTokens).where(and(eq(apiTokens.tenantId, tenant), eq(apiTokens.tokenId, id)));
  return rows[0] ? toRow(rows[0]) : null;
}

/** A tenant's tokens, oldest first, revoked ones included. */
export async function listTokens(tx: TenantTx, tenant: string): Promise<TokenRow[]> {
  const rows = await tx.select().from(apiTokens).where(eq(apiTokens.tenantId, tenant)).orderBy(asc(apiTokens.createdAt), asc(apiTokens.tokenId));
  return rows.map(toRow);
}

/** Stamps a revocation; false if the token is unknown or already revoked. */
export async function revokeTokenRow(tx: TenantTx, tenant: string, id: string, by: string, at: Date): Promise<boolean> {
  const rows = await tx
    .update(apiTokens)
    .set({ revokedAt: at, revokedBy: by })
    .where(and(eq(apiTokens.tenantId, tenant), eq(apiTokens.tokenId, id), isNull(apiTokens.revokedAt)))
    .returning({ id: apiTokens.tokenId });
  return rows.length === 1;
}

function toRow(r: typeof apiTokens.$inferSelect): TokenRow {
  return {
    tenant: r.tenantId,
    id: r.tokenId,
    role: r.role,
    label: r.label,
    secretHash: new Uint8Array(r.secretHash),
    createdAt: r.createdAt,
    createdBy: r.createdBy,
    expiresAt: r.expiresAt,
    keyId: r.keyId,
    signature: new Uint8Array(r.signature),
    revokedAt: r.revokedAt,
    revokedBy: r.revokedBy,
  };
}
