import { decide, withFloor, type RetentionDecision } from '../retention';
import { listSessions, listTenants, pendingTombstones, readHolds, withTenant, type SessionRow } from '../store';
import { StorageError, VaultError } from '../errors';
import type { VaultDeps } from './deps';
import { archiveSession, deleteObjects, floorOf, policyOf, purge } from './archive';

/** One line of a retention run: a session acted on (or, with dryRun, that would be). */
export interface RetentionItem {
  tenant: string;
  session: string;
  action: 'archive' | 'purge' | 'finish-purge';
  /** `done`, `planned` (dry run), `skipped` (changed meanwhile), or `failed:<CODE>`. */
  outcome: string;
  dueAt: string | null;
  digest?: string | null;
  events?: number;
}

export interface RetentionRunOptions {
  dryRun?: boolean;
  /** Only this tenant (the caller checked it exists). */
  tenant?: string;
  /** Who runs it: recorded in archive records and tombstones. */
  actor: string;
  /** Records each action in the access trail before it runs (OperatorAccess supplies it). */
  record: <T>(action: string, tenant: string, session: string, fn: () => Promise<T>) => Promise<T>;
  /** Sessions looked at so far, for a progress bar. */
  onSession?: () => void;
}

/**
 * Runs every tenant's retention: finishes purges a crash interrupted, archives sessions
 * idle past archive-after, purges archived sessions past retain unless held. Streams: a
 * page of sessions at a time, one session in memory at a time, each result yielded as it
 * happens. Safe to kill and rerun: each step commits on its own and a rerun skips what is
 * done. An unreachable archive store stops the run (STORAGE_UNAVAILABLE, the session
 * stays hot); a session that fails otherwise is reported and the run goes on.
 */
export async function* retentionRun(deps: VaultDeps, o: RetentionRunOptions): AsyncGenerator<RetentionItem> {
  const tenants = o.tenant !== undefined ? [o.tenant] : (await listTenants(deps.store.db)).map((t) => t.tenant);
  for (const tenant of tenants) {
    for (const t of await withTenant(deps.store.db, tenant, 'reading tombstones', (tx) => pendingTombstones(tx, tenant))) {
      const item: RetentionItem = { tenant, session: t.session, action: 'finish-purge', outcome: 'planned', dueAt: t.dueAt.toISOString() };
      if (!o.dryRun) {
        item.outcome = await attempt(async () => {
          await o.record('retention.finish-purge', tenant, t.session, () => deleteObjects(deps, tenant, t.session));
          return 'done';
        });
      }
      yield item;
    }
    const { policy } = await policyOf(deps, tenant);
    const held = new Set((await withTenant(deps.store.db, tenant, 'reading legal holds', (tx) => readHolds(tx, tenant))).map((h) => h.session));
    for (let after: string | null = null; ; ) {
      const page: SessionRow[] = await withTenant(deps.store.db, tenant, 'listing sessions', (tx) => listSessions(tx, tenant, after, 200));
      for (const s of page) {
        o.onSession?.();
        const d: RetentionDecision = decide({ status: s.status, events: s.headSeq, lastAt: s.lastAt, held: held.has(s.session) }, withFloor(policy, floorOf(s)), deps.clock());
        if (d.action === 'none') continue;
        const item: RetentionItem = { tenant, session: s.session, action: d.action, outcome: 'planned', dueAt: d.dueAt.toISOString() };
        if (!o.dryRun) {
          if (d.action === 'archive') {
            item.outcome = await attempt(async () => {
              const r = await o.record('retention.archive', tenant, s.session, () => archiveSession(deps, tenant, s.session, o.actor));
              item.digest = r.digest;
              item.events = r.events;
              return r.outcome === 'changed' ? 'skipped' : 'done';
            });
          } else {
            item.outcome = await attempt(async () => {
              await o.record('retention.purge', tenant, s.session, () => purge(deps, tenant, s.session, o.actor));
              return 'done';
            });
          }
        }
        yield item;
      }
      if (page.length < 200) break;
      after = page[page.length - 1]!.session;
    }
  }
}

/** Runs one step: its outcome, or `failed:<CODE>`; an unreachable store or database stops the run. */
async function attempt(fn: () => Promise<string>): Promise<string> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof StorageError && (e.code === 'STORAGE_UNAVAILABLE' || e.code === 'ACCESS_TRAIL_UNAVAILABLE')) throw e;
    if (e instanceof VaultError) return `failed:${e.code}`;
    throw e;
  }
}
