import { decide, restoreDue, withFloor, type Duration, type RetentionDecision } from '../retention';
import { listSessions, listTenants, pendingTombstones, readHolds, withTenant, type SessionRow, type TombstoneRow } from '../store';
import { IntegrityError, StorageError, VaultError } from '../errors';
import { isoTime } from '../domain';
import { eachAtMost } from './at-most';
import type { VaultDeps } from './deps';
import { archiveMany, archiveSession, deleteObjects, floorOf, policyOf, purge, restoreSession, type ArchiveResult } from './archive';
import { purgeRecorded } from './recorded-purge';

/** One line of a retention run: a session acted on (or, with dryRun, that would be). */
export interface RetentionItem {
  tenant: string;
  session: string;
  action: 'archive' | 'purge' | 'restore' | 'finish-purge';
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
  /**
   * Records actions in the access trail, all in one statement (OperatorAccess supplies
   * it): each group's `granted` records before any of it runs, then its failures.
   */
  record: (entries: readonly { action: string; tenant: string; session: string; outcome: string }[]) => Promise<void>;
  /** Sessions looked at so far, for a progress bar. */
  onSession?: () => void;
  /** Sessions archived or purged at once. Default 16. */
  concurrency?: number;
}

/** Sessions recorded together, then acted on (at most `concurrency` at a time). */
const GROUP = 100;

/** Sessions of up to this many events are archived together (archiveMany); longer ones alone. */
const SMALL = 1000;

/** An action a run is about to take, and how: alone (`run`), or with the group's other small archives (`settle` reads its result). */
interface Due {
  item: RetentionItem;
  action: string;
  run: () => Promise<string>;
  settle?: (r: ArchiveResult) => string;
}

/** Archives the group's small sessions at once: each one's result or error. */
type ArchiveBatch = (sessions: readonly string[]) => Promise<Map<string, ArchiveResult | Error>>;

/**
 * Runs every tenant's retention: finishes purges a crash interrupted, archives sessions
 * idle past archive-after, purges archived sessions past retain unless held, and restores
 * archived sessions a hold was set on since archiving (held evidence is kept by the
 * database's guards, not only by the archive store). Streams: a
 * page of sessions at a time; of each page, groups of up to 100 due sessions are recorded
 * in the access trail (one statement) and then acted on, a few at once, so memory holds
 * a page and a few sessions, never the tenant. Each result is yielded once its group is
 * done. Safe to kill and rerun: each step commits on its own and a rerun skips what is
 * done. An unreachable archive store stops the run (STORAGE_UNAVAILABLE, the session
 * stays hot; what its group had not started is recorded as failed with that code), and so
 * does a purge the database refuses because this host's clock is ahead of its own
 * (CLOCK_AHEAD); a session that fails otherwise is reported and the run goes on. So is
 * one whose retention cannot be read, its floor's or its tenant's policy row's (stored
 * before 0067, or by the owner: `failed:CHAIN_BROKEN`, not recorded, since nothing was
 * done), so that one tampered row does not stop every tenant's retention.
 */
export async function* retentionRun(deps: VaultDeps, o: RetentionRunOptions): AsyncGenerator<RetentionItem> {
  const tenants = o.tenant !== undefined ? [o.tenant] : (await listTenants(deps.store.db)).map((t) => t.tenant);
  for (const tenant of tenants) {
    const finishing: Due[] = [];
    // A purge made outside the vault (no signed record of it) has its objects left, not deleted on its behalf: not recorded, since nothing is done.
    const pending = await withTenant(deps.store.db, tenant, 'reading tombstones', async (tx) => {
      const out: { t: TombstoneRow; recorded: boolean }[] = [];
      for (const t of await pendingTombstones(tx, tenant)) out.push({ t, recorded: await purgeRecorded(deps, tx, t) });
      return out;
    });
    for (const { t, recorded } of pending) {
      const item: RetentionItem = { tenant, session: t.session, action: 'finish-purge', outcome: 'planned', dueAt: isoTime(t.dueAt) };
      if (!recorded) {
        deps.logger.warn({ op: 'retention.finish-purge', tenant, session: t.session, purgedBy: t.purgedBy }, 'a purge no operator recorded: its archive objects are left');
        yield { ...item, outcome: 'failed:PURGE_UNRECORDED' };
        continue;
      }
      finishing.push({ item, action: 'retention.finish-purge', run: async () => (await deleteObjects(deps, tenant, t.session), 'done') });
    }
    for (let i = 0; i < finishing.length; i += GROUP) yield* act(finishing.slice(i, i + GROUP), o);
    const policy = await policyOf(deps, tenant).then((p) => p.policy, integrityOnly);
    const held = new Set((await withTenant(deps.store.db, tenant, 'reading legal holds', (tx) => readHolds(tx, tenant))).map((h) => h.session));
    for (let after: string | null = null; ; ) {
      const page: SessionRow[] = await withTenant(deps.store.db, tenant, 'listing sessions', (tx) => listSessions(tx, tenant, after, 200));
      const due: Due[] = [];
      for (const s of page) {
        o.onSession?.();
        if (s.status === 'purged') continue;
        const subject = { status: s.status, events: s.headSeq, lastAt: s.lastAt, held: held.has(s.session) };
        if (restoreDue(subject)) {
          // Before the session's retention is read: a restore needs none, so an unreadable one does not stop it.
          const item: RetentionItem = { tenant, session: s.session, action: 'restore', outcome: 'planned', dueAt: null };
          due.push({ item, action: 'retention.restore', run: async () => ((await restoreSession(deps, tenant, s.session)) ? 'done' : 'skipped') });
          continue;
        }
        const floor = floorOrError(s);
        if (policy instanceof IntegrityError || floor instanceof IntegrityError) {
          const e = policy instanceof IntegrityError ? policy : (floor as IntegrityError);
          yield { tenant, session: s.session, action: s.status === 'active' ? 'archive' : 'purge', outcome: `failed:${e.code}`, dueAt: null };
          continue;
        }
        const d: RetentionDecision = decide(subject, withFloor(policy, floor), deps.clock());
        if (d.action === 'none' || d.action === 'restore') continue; // restoreDue was false: decide gives no restore
        const item: RetentionItem = { tenant, session: s.session, action: d.action, outcome: 'planned', dueAt: isoTime(d.dueAt) };
        if (d.action === 'archive') {
          const settle = (r: ArchiveResult) => {
            item.digest = r.digest;
            item.events = r.events;
            return r.outcome === 'changed' ? 'skipped' : 'done';
          };
          due.push({ item, action: 'retention.archive', run: async () => settle(await archiveSession(deps, tenant, s.session, o.actor, policy)), ...(s.headSeq <= SMALL ? { settle } : {}) });
        } else {
          due.push({ item, action: 'retention.purge', run: async () => (await purge(deps, tenant, s.session, o.actor), 'done') });
        }
      }
      const batch: ArchiveBatch | undefined = policy instanceof IntegrityError ? undefined : (ids) => archiveMany(deps, tenant, ids, o.actor, policy, o.concurrency);
      for (let i = 0; i < due.length; i += GROUP) yield* act(due.slice(i, i + GROUP), o, batch);
      if (page.length < 200) break;
      after = page[page.length - 1]!.session;
    }
  }
}

/** An unreadable policy or floor (CHAIN_BROKEN) as a value, for the run to report and go on; anything else is thrown on. */
function integrityOnly(e: unknown): IntegrityError {
  if (e instanceof IntegrityError) return e;
  throw e;
}

function floorOrError(s: SessionRow): Duration | null | IntegrityError {
  try {
    return floorOf(s);
  } catch (e) {
    return integrityOnly(e);
  }
}

/**
 * Records a group's actions as granted (one statement, before any runs), runs them a few
 * at a time, records those that failed, and yields the results in order. A dry run only
 * yields them as planned. An unreachable store or database stops the group: what had not
 * finished is recorded as failed with its code, what had is yielded, then it throws.
 */
async function* act(group: readonly Due[], o: RetentionRunOptions, batch?: ArchiveBatch): AsyncGenerator<RetentionItem> {
  if (group.length === 0) return;
  if (o.dryRun) {
    yield* group.map((d) => d.item);
    return;
  }
  const entry = (d: Due, outcome: string) => ({ action: d.action, tenant: d.item.tenant, session: d.item.session, outcome });
  await o.record(group.map((d) => entry(d, 'granted')));
  let stop: unknown = null;
  const settle = async (d: Due, step: () => Promise<string>) => {
    try {
      d.item.outcome = await attempt(step);
    } catch (e) {
      stop ??= e;
    }
  };
  const together = batch ? group.filter((d) => d.settle) : [];
  const tasks: (() => Promise<void>)[] = group.filter((d) => !together.includes(d)).map((d) => () => settle(d, d.run));
  if (together.length > 0) {
    tasks.unshift(async () => {
      const results: Map<string, ArchiveResult | Error> | Error = await batch!(together.map((d) => d.item.session)).catch((e: Error) => e);
      for (const d of together) {
        const r = results instanceof Map ? results.get(d.item.session) : results;
        await settle(d, async () => {
          if (!r || r instanceof Error) throw r ?? new Error('no result');
          return d.settle!(r);
        });
      }
    });
  }
  await eachAtMost(tasks, o.concurrency ?? 16, (task) => task(), () => stop !== null);
  const stopCode = stop instanceof VaultError ? stop.code : 'INTERNAL';
  const failed = group.filter((d) => d.item.outcome.startsWith('failed:') || (stop !== null && d.item.outcome === 'planned'));
  await o.record(failed.map((d) => entry(d, d.item.outcome === 'planned' ? `failed:${stopCode}` : d.item.outcome))).catch(() => {});
  for (const d of group) if (d.item.outcome !== 'planned') yield d.item;
  if (stop !== null) throw stop;
}

/**
 * Errors that stop a run, since every later step would meet them too: an unreachable
 * store, database or trail, and a host clock ahead of the database's (CLOCK_AHEAD: each
 * purge would be refused, reported once instead of once a session).
 */
const STOPS_THE_RUN = new Set(['STORAGE_UNAVAILABLE', 'ACCESS_TRAIL_UNAVAILABLE', 'CLOCK_AHEAD']);

/** Runs one step: its outcome, or `failed:<CODE>`; an error of STOPS_THE_RUN is thrown. */
async function attempt(fn: () => Promise<string>): Promise<string> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof StorageError && STOPS_THE_RUN.has(e.code)) throw e;
    if (e instanceof VaultError) return `failed:${e.code}`;
    throw e;
  }
}
