import { eq } from 'drizzle-orm';
import { retentionPolicies } from '../schema';
import type { TenantTx } from '../types';

export interface PolicyRow {
  tenant: string;
  archiveAfter: string;
  retain: string;
  setBy: string;
  setAt: Date;
}

/** A tenant's own retention policy, or null when it follows the default. */
export async function readPolicy(tx: TenantTx, tenant: string): Promise<PolicyRow | null> {
  const [r] = await tx.select().from(retentionPolicies).where(eq(retentionPolicies.tenantId, tenant)).limit(1);
  return r ? { tenant: r.tenantId, archiveAfter: r.archiveAfter, retain: r.retain, setBy: r.setBy, setAt: r.setAt } : null;
}

/** Sets (inserts or replaces) a tenant's retention policy. */
export async function writePolicy(tx: TenantTx, p: PolicyRow): Promise<void> {
  const values = { archiveAfter: p.archiveAfter, retain: p.retain, setBy: p.setBy, setAt: p.setAt };
  await tx
    .insert(retentionPolicies)
    .values({ tenantId: p.tenant, ...values })
    .onConflictDoUpdate({ target: retentionPolicies.tenantId, set: values });
}
