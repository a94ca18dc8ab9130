import { and, eq, ne } from 'drizzle-orm';
import { retentionPolicies, sessions } from '../schema';
import type { TenantTx } from '../types';

export interface PolicyRow {
  tenant: string;
  archiveAfter: string;
  retain: string;
  setBy: string;
  setAt: Date;
  mode: 'governance' | 'compliance';
}

/** A tenant's own retention policy, or null when it follows the default. */
export async function readPolicy(tx: TenantTx, tenant: string): Promise<PolicyRow | null> {
  const [r] = await tx.select().from(retentionPolicies).where(eq(retentionPolicies.tenantId, tenant)).limit(1);
  return r ? { tenant: r.tenantId, archiveAfter: r.archiveAfter, retain: r.retain, setBy: r.setBy, setAt: r.setAt, mode: r.mode as PolicyRow['mode'] } : null;
}

/** Sets (inserts or replaces) a tenant's retention policy. The database refuses lifting compliance mode. */
export async function writePolicy(tx: TenantTx, p: PolicyRow): Promise<void> {
  const values = { archiveAfter: p.archiveAfter, retain: p.retain, setBy: p.setBy, setAt: p.setAt, mode: p.mode };
  await tx
    .insert(retentionPolicies)
    .values({ tenantId: p.tenant, ...values })
    .onConflictDoUpdate({ target: retentionPolicies.tenantId, set: values });
}

/**
 * Sets the retention floor of a session (raising it at archive time) or of every
 * unpurged session of the tenant (a governance override). The database refuses lowering
 * a floor in compliance mode.
 */
export async function setRetainFloor(tx: TenantTx, tenant: string, floor: string, session?: string): Promise<number> {
  const scope = session === undefined ? and(eq(sessions.tenantId, tenant), ne(sessions.status, 'purged')) : and(eq(sessions.tenantId, tenant), eq(sessions.sessionId, session));
  const rows = await tx.update(sessions).set({ retainFloor: floor }).where(scope).returning({ id: sessions.sessionId });
  return rows.length;
}
