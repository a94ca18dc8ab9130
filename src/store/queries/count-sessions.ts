import { count, eq } from 'drizzle-orm';
import { sessions } from '../schema';
import type { TenantTx } from '../types';

/** How many sessions a tenant has (any status). */
export async function countSessions(tx: TenantTx, tenant: string): Promise<number> {
  const [r] = await tx.select({ n: count() }).from(sessions).where(eq(sessions.tenantId, tenant));
  return Number(r?.n ?? 0);
}
