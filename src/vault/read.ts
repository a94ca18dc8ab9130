import type { StoredEvent, VaultEvent } from '../domain';
import { openEvent } from '../events';
import { readEvents, readSession, withTenant, type SessionRow } from '../store';
import { readArchived } from './archive';
import type { VaultDeps } from './deps';
import { openSession } from './open-session';

/**
 * A session's events as stored, in seq order, wherever they are. Hot: page by page, memory
 * holding two pages (the one being consumed and the next, fetched meanwhile so the
 * database works while the caller decrypts), never the session; each page is its own
 * short tenant-scoped transaction. Archived: from the archive object, fetched and
 * verified first (ARCHIVE_MISSING, ARCHIVE_CORRUPT, STORAGE_UNAVAILABLE). Purged: none.
 * `known`: the session's row, when the caller has just read it.
 */
export async function* storedEvents(deps: VaultDeps, tenant: string, session: string, fromSeq = 1, known?: SessionRow): AsyncGenerator<StoredEvent> {
  // Callers that already read the session's row pass it, so it is not read twice.
  const row = known ?? (await withTenant(deps.store.db, tenant, 'reading a session', (tx) => readSession(tx, tenant, session)));
  if (row?.status === 'archived') {
    for (const e of (await readArchived(deps, row)).events) if (e.seq >= fromSeq) yield e;
    return;
  }
  if (row?.status === 'purged') return;
  const fetch = (after: number) =>
    withTenant(deps.store.db, tenant, 'reading events', (tx) => readEvents(tx, tenant, session, after, deps.pageSize));
  let pending = fetch(Math.max(0, fromSeq - 1));
  try {
    for (;;) {
      const page = await pending;
      const full = page.length === deps.pageSize;
      if (full) pending = fetch(page[page.length - 1]!.seq);
      for (const e of page) yield e;
      if (!full) return;
    }
  } finally {
    // A consumer that stops early (replay up to a point) leaves a prefetch in flight: settle it.
    pending.catch(() => {});
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
