import type { StoredEvent, VaultEvent } from '../domain';
import { openEvent } from '../events';
import { readEvents, withTenant } from '../store';
import type { VaultDeps } from './deps';
import { openSession } from './open-session';

/**
 * A session's events as stored, page by page in seq order: memory holds one page, not
 * the session. Each page is its own short tenant-scoped transaction.
 */
export async function* storedEvents(deps: VaultDeps, tenant: string, session: string, fromSeq = 1): AsyncGenerator<StoredEvent> {
  let after = Math.max(0, fromSeq - 1);
  for (;;) {
    const page = await withTenant(deps.store.db, tenant, 'reading events', (tx) => readEvents(tx, tenant, session, after, deps.pageSize));
    for (const e of page) yield e;
    if (page.length < deps.pageSize) return;
    after = page[page.length - 1]!.seq;
  }
}

/**
 * A session's events, decrypted, page by page. UNKNOWN_SESSION if it does not exist;
 * KEY_DESTROYED if its key was shredded; DECRYPTION_FAILED if a ciphertext does not
 * open where it is (altered, or moved from another row, session or tenant).
 */
export async function* decryptedEvents(deps: VaultDeps, tenant: string, session: string, fromSeq = 1): AsyncGenerator<VaultEvent> {
  const s = deps.cache.get(tenant, session) ?? (await openSession(deps, tenant, session, null));
  for await (const row of storedEvents(deps, tenant, session, fromSeq)) {
    yield openEvent(row, s.dataKey);
  }
}
