import { and, eq, sql } from 'drizzle-orm';
import { accessLog } from '../schema';
import type { VaultDb } from '../types';

/**
 * Whether the access trail holds a revocation of this token (`tokens.revoke:<id>`, any
 * outcome). The trail is signed and witnessed, so a revocation cleared from the token's
 * row by a database owner still counts here unless they also cut the trail, which
 * `verify` reports. Uses the partial index `access_log_token_revocations` (0023).
 */
export async function revocationRecorded(db: VaultDb, tenant: string, tokenId: string): Promise<boolean> {
  const rows = await db
    .select({ seq: accessLog.seq })
    .from(accessLog)
    .where(and(sql`left(${accessLog.action}, 14) = 'tokens.revoke:'`, eq(accessLog.action, `tokens.revoke:${tokenId}`), eq(accessLog.tenantId, tenant)))
    .limit(1);
  return rows.length > 0;
}
