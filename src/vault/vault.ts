import type { EventStream, VaultEvent } from '../domain';
import { collectEvents, isoTime, sessionId as validSessionId, tenantId as validTenantId } from '../domain';
import { InputError, VaultError } from '../errors';
import { newTenantKey } from '../keys';
import { countSessions, insertTenant, insertTenantKey, writePolicy, lastAccessBefore, listSessions, listTenants, roleMembers, withTenant, type AccessRow, type HoldRow, type LoginRoles, type SessionRow, type Store } from '../store';
import { requireSession, sessionRow } from './session-row';
import type { AgentState, Landmarks } from '../replay';
import { withContext } from '../observability';
import { append, type AppendOptions, type AppendResult } from './append';
import type { VaultDeps } from './deps';
import type { HeldEvents } from './session-cache';
import { decryptedAt, decryptedEvents, decryptedSince, seqRange } from './read';
import { checkStateOptions, landmarksAt, stateAt, writeSnapshot, type StateOptions } from './snapshots';
import { verify, type VerifyReport, type VerifyScope } from './verify';
import { checkpoint, type CheckpointResult } from './checkpoint';
import { signedWrap, tenantKeySubject } from './key-wraps';
import { exportSession, type ExportOptions } from './export';
import { SINCE_MARGIN_MS, reviewRoles, trailLine, type Bundle, type RoleFinding, type TrailLine } from '../audit';
import { OperatorAccess, accessTrail, recordAccess, type Operator } from './access';
import { listKeys, type TenantKeyInfo } from './key-lifecycle';
import { listHolds } from './shred';
import { policyOf, requireTenant } from './archive';
import { DEFAULT_POLICY_ACTOR, formatDuration, policyAction, type RetentionMode } from '../retention';
import { authenticate, tokenList, type Principal, type TokenInfo } from './tokens';
import type { ReleaseKey } from './release-key';

/** `retention show --json`. */

/** Vault.roles(): the vault's role names, this connection's login and role, and each login that may act as one of them. */
export interface RoleReport {
  roles: { app: string; operator: string; retention: string; legal: string; auditor: string };
  session: { login: string; role: string };
  logins: LoginRoles[];
  /** What a review of separation of duties looks for (audit/role-review.ts): a login with both the operator and legal roles, one with BYPASSRLS. */
  findings: RoleFinding[];
}

export interface RetentionView {
  tenant: string;
  archiveAfter: string;
  retain: string;
  /** `tenant`: set for this tenant (at creation from the default, or by `retention set`); `default`: none stored. */
  source: 'tenant' | 'default';
  /** `governance`: floors may be lowered by a recorded override; `compliance`: never. */
  mode: RetentionMode;
  setBy: string | null;
  setAt: string | null;
}

/** A session as `sessions` lists it. */
export interface SessionSummary {
  session: string;
  agent: string | null;
  events: number;
  firstAt: string | null;
  lastAt: string | null;
  status: 'active' | 'archived' | 'purged';
}

function summaryOf(s: SessionRow): SessionSummary {
  return { session: s.session, agent: s.agent, events: s.headSeq, firstAt: s.firstAt === null ? null : isoTime(s.firstAt), lastAt: s.lastAt === null ? null : isoTime(s.lastAt), status: s.status };
}

const stores = new WeakMap<Vault, Store>();
const releaseKeys = new WeakMap<Vault, ReleaseKey>();

/**
 * @internal The store under a vault, for tests and maintenance tools that must reach the
 * database as the vault does. Not exported from the package root.
 */
export function storeOf(vault: Vault): Store {
  return stores.get(vault)!;
}

/**
 * @internal The vault's release key (src/vault/release-key.ts): `init` registers it, tests
 * make the proofs a keyring holder makes. Not exported from the package root.
 */
export function releaseKeyOf(vault: Vault): ReleaseKey {
  return releaseKeys.get(vault)!;
}

/**
 * The vault: tenants, their sessions, verification. Open one with `openVault`, close it
 * with `close()` (which zeroes cached keys and releases the store).
 */
export class Vault {
  #closed = false;

  /** @internal — use openVault. */
  constructor(
    private readonly deps: VaultDeps,
    private readonly onClose: () => Promise<void>,
  ) {
    stores.set(this, deps.store);
    releaseKeys.set(this, deps.releaseKey);
  }

  /** Where the data lives (no credentials). */
  get location(): string {
    return this.deps.store.location;
  }

  /**
   * Creates a tenant with its first tenant key (version 1, primary), wrapped by the
   * master key, and the vault's default retention policy, recorded in the access trail
   * (actor `(default)`). INVALID_ID for a bad id, TENANT_EXISTS if it exists;
   * ACCESS_TRAIL_UNAVAILABLE, nothing created, if the trail cannot be written.
   */
  async createTenant(tenant: string): Promise<{ tenant: string; keyVersion: number }> {
    const t = validTenantId(tenant);
    const provider = await this.deps.provider();
    const signer = await this.deps.signer();
    // A new tenant starts with the vault's default retention policy, written down so a
    // later change of the default does not silently change what this tenant keeps, and
    // recorded, signed, as the policy its first sessions are promised (recorded-policy.ts).
    const d = this.deps.defaultRetention;
    const record = { actor: DEFAULT_POLICY_ACTOR, action: policyAction({ override: false, policy: d }), tenant: t, session: null, reason: 'tenant created' };
    await recordAccess(this.deps, { ...record, outcome: 'granted' }, { witnessed: false });
    try {
      const { key, ...wrapped } = await newTenantKey(provider, { tenant: t, version: 1 });
      try {
        await withTenant(this.deps.store.db, t, 'creating a tenant', async (tx) => {
          const now = this.deps.clock();
          if (!(await insertTenant(tx, { tenant: t, createdAt: now, wrapsSigned: signer !== null }))) {
            throw new InputError('TENANT_EXISTS', `tenant ${t} already exists`);
          }
          const signed = signedWrap(signer, tenantKeySubject({ tenant: t, version: 1, masterKeyId: wrapped.masterKeyId }), 1, wrapped.wrapped);
          await insertTenantKey(tx, { tenant: t, version: 1, masterKeyId: wrapped.masterKeyId, wrappedKey: wrapped.wrapped, state: 'primary', createdAt: now, ...signed });
          await writePolicy(tx, { tenant: t, archiveAfter: formatDuration(d.archiveAfter), retain: formatDuration(d.retain), setBy: DEFAULT_POLICY_ACTOR, setAt: now, mode: 'governance' });
        });
      } finally {
        key.dispose();
      }
    } catch (e) {
      await recordAccess(this.deps, { ...record, outcome: `failed:${e instanceof VaultError ? e.code : 'INTERNAL'}` }, { witnessed: false }).catch(() => {});
      throw e;
    }
    withContext({ tenant: t }, () => this.deps.logger.info({ op: 'tenant.create', keyVersion: 1 }, 'tenant created'));
    return { tenant: t, keyVersion: 1 };
  }

  /** Every tenant, in id order. */
  async tenants(): Promise<{ tenant: string; createdAt: Date }[]> {
    return listTenants(this.deps.store.db);
  }

  /** A handle on one session; nothing is read or created until it is used. */
  session(tenant: string, session: string): VaultSession {
    return new VaultSession(this.deps, validTenantId(tenant), validSessionId(session));
  }

  /** A tenant's sessions in id order. UNKNOWN_TENANT if there is no such tenant. */
  async sessions(tenant: string): Promise<SessionSummary[]> {
    const t = validTenantId(tenant);
    await this.requireTenant(t);
    const out: SessionSummary[] = [];
    let after: string | null = null;
    for (;;) {
      const page: SessionRow[] = await withTenant(this.deps.store.db, t, 'listing sessions', (tx) => listSessions(tx, t, after, 500));
      for (const s of page) out.push(summaryOf(s));
      if (page.length < 500) return out;
      after = page[page.length - 1]!.session;
    }
  }

  /** One session as `sessions` lists it. UNKNOWN_SESSION (or UNKNOWN_TENANT) if there is none. */
  async sessionInfo(tenant: string, session: string): Promise<SessionSummary> {
    const [t, s] = [validTenantId(tenant), validSessionId(session)];
    await this.requireTenant(t);
    return summaryOf(await requireSession(this.deps, t, s));
  }

  /** How many sessions one tenant, or every tenant, has (for progress bars). */
  async sessionCount(tenant?: string): Promise<number> {
    const tenants = tenant !== undefined ? [validTenantId(tenant)] : (await listTenants(this.deps.store.db)).map((t) => t.tenant);
    let n = 0;
    for (const t of tenants) n += await withTenant(this.deps.store.db, t, 'counting sessions', (tx) => countSessions(tx, t));
    return n;
  }

  /** Verifies chains and heads (all tenants, one tenant, or one session) with no keys. */
  async verify(scope: VerifyScope = {}): Promise<VerifyReport> {
    const tenant = scope.tenant === undefined ? undefined : validTenantId(scope.tenant);
    const session = scope.session === undefined ? undefined : validSessionId(scope.session);
    return verify(this.deps, { ...scope, tenant, session });
  }

  /**
   * Signs the current chain head of every session in scope, stores the checkpoints and
   * records them with the witness (which refuses to go backwards: see CheckpointResult).
   */
  async checkpoint(scope: { tenant?: string; session?: string } = {}): Promise<CheckpointResult[]> {
    const tenant = scope.tenant === undefined ? undefined : validTenantId(scope.tenant);
    const session = scope.session === undefined ? undefined : validSessionId(scope.session);
    return checkpoint(this.deps, { tenant, session });
  }

  /**
   * Operator access to decrypted data (events, replay, export): each call is recorded in
   * the access trail first, and refused if it cannot be (ACTOR_REQUIRED without an actor).
   */
  operator(who: Operator): OperatorAccess {
    return new OperatorAccess(this.deps, who);
  }

  /** A tenant's key versions: state, creation, how many session keys each wraps. Never key material. */
  async keys(tenant: string): Promise<TenantKeyInfo[]> {
    return listKeys(this.deps, validTenantId(tenant));
  }

  /** A tenant's retention policy, and whether it is the tenant's own or the vault's default. */
  async retention(tenant: string): Promise<RetentionView> {
    const t = validTenantId(tenant);
    await this.requireTenant(t);
    const p = await policyOf(this.deps, t);
    return {
      tenant: t,
      archiveAfter: formatDuration(p.policy.archiveAfter),
      retain: formatDuration(p.policy.retain),
      source: p.source,
      mode: p.mode,
      setBy: p.setBy,
      setAt: p.setAt ? isoTime(p.setAt) : null,
    };
  }

  /** Legal holds in force, for one tenant or all. */
  async holds(tenant?: string): Promise<HoldRow[]> {
    return listHolds(this.deps, tenant === undefined ? undefined : validTenantId(tenant));
  }

  /**
   * The operator access trail, optionally for one tenant (with `withVault`, and the vault's
   * own records, of no tenant, as the tenant's checkable listing shows them: trailFile),
   * since a time, and after a seq.
   */
  accessLog(filter: { tenant?: string; withVault?: boolean; since?: Date; afterSeq?: number } = {}): AsyncIterable<AccessRow> {
    const tenant = filter.tenant === undefined ? undefined : validTenantId(filter.tenant);
    return accessTrail(this.deps, { ...filter, tenant, afterSeq: trailSeq(filter.afterSeq) });
  }

  /**
   * The access trail as the file an auditor checks alone with `verify-trail`
   * (audit/trail-file.ts): whole, from seq 1, or from `afterSeq` (the head the auditor
   * checked last), or `since` a time: from the last record dated SINCE_MARGIN_MS before
   * it, whose signed head the rest chain onto (`verify-trail --since`), or from seq 1 when
   * there is none; for a tenant (with the vault's own records), or a session of a tenant,
   * every record outside it (in the v2 form) withheld, shown as the digests its hash
   * covers. INVALID_INPUT for both `afterSeq` and `since`.
   */
  async *trailFile(scope?: { tenant: string; session?: string }, options: { afterSeq?: number; since?: Date } = {}): AsyncGenerator<TrailLine> {
    const checked = scope === undefined ? undefined : { tenant: validTenantId(scope.tenant), ...(scope.session === undefined ? {} : { session: validSessionId(scope.session) }) };
    let afterSeq = trailSeq(options.afterSeq);
    if (options.since !== undefined) {
      if (!(options.since instanceof Date) || Number.isNaN(options.since.getTime())) throw new InputError('INVALID_INPUT', 'since is a time');
      if (options.afterSeq !== undefined) throw new InputError('INVALID_INPUT', 'a listing starts after a seq or since a time, not both');
      const start = await lastAccessBefore(this.deps.store.db, new Date(options.since.getTime() - SINCE_MARGIN_MS));
      if (start) {
        yield trailLine(start, checked);
        afterSeq = start.seq;
      }
    }
    for await (const r of accessTrail(this.deps, { afterSeq })) yield trailLine(r, checked);
  }

  /**
   * Who may act as this vault's database roles: each login of the server that is a member
   * of the application, operator, retention, legal or auditor role (or a superuser, who may act as any),
   * and the login and role this vault connected as. For a review of separation of duties:
   * the agents' logins should be application-role members only (docs/operations.md).
   */
  async roles(): Promise<RoleReport> {
    const { layout } = this.deps.store;
    const found = await roleMembers(this.deps.store.db, layout);
    return { roles: { app: layout.appRole, operator: layout.operatorRole, retention: layout.retentionRole, legal: layout.legalRole, auditor: layout.auditorRole }, ...found, findings: reviewRoles(found.logins) };
  }

  /** A tenant's API tokens (ids, roles, labels, dates; never secrets). UNKNOWN_TENANT for an unknown tenant. */
  async tokens(tenant: string): Promise<TokenInfo[]> {
    return tokenList(this.deps, validTenantId(tenant));
  }

  /**
   * The principal a presented API token stands for: well formed, stored, its secret
   * matching, its grant signed by a trusted key, neither revoked nor expired. Otherwise
   * UNAUTHENTICATED, with the same message whatever was wrong.
   */
  authenticate(token: string): Promise<Principal> {
    return authenticate(this.deps, token);
  }

  /** Closes the store and zeroes cached keys. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.deps.cache.dispose();
    this.deps.keys.dispose();
    await this.onClose();
  }

  private requireTenant(t: string): Promise<void> {
    return requireTenant(this.deps, t);
  }
}

/**
 * One session of one tenant: append, read, replay. This is *application access*: the
 * application's own agent reading and writing its own sessions in its own process, with
 * keys it already holds; it is not recorded in the access trail. Anything a person does
 * (read, export, chat, keys, retention) goes through `vault.operator()`, which is.
 */
export class VaultSession {
  /** Which kind of access this handle is (docs/threat-model.md, "Who decrypts"). */
  readonly access = 'application' as const;

  /** @internal — use vault.session(). */
  constructor(
    private readonly deps: VaultDeps,
    readonly tenant: string,
    readonly id: string,
  ) {}

  /** Appends one event (see appendMany). */
  append(event: unknown, options?: AppendOptions): Promise<AppendResult> {
    return append(this.deps, this.tenant, this.id, [event], options);
  }

  /**
   * Appends events atomically — all are stored, or none — and resolves after commit.
   * Creates the session on first append. INVALID_EVENT (nothing stored) for bad input,
   * UNKNOWN_TENANT for an unknown tenant, IDEMPOTENCY_CONFLICT for reused keys.
   */
  appendMany(events: readonly unknown[], options?: AppendOptions): Promise<AppendResult> {
    return append(this.deps, this.tenant, this.id, events, options);
  }

  /**
   * Decrypted events from `fromSeq` (default 1) through `toSeq` (default: the head),
   * streamed page by page: one at a time (`for await`), or in the arrays they are
   * decrypted in (`.chunks()`, an await an array). Read once.
   */
  events(options: { fromSeq?: number; toSeq?: number } = {}): EventStream {
    const { fromSeq, toSeq } = seqRange(options);
    return decryptedEvents(this.deps, this.tenant, this.id, fromSeq, toSeq);
  }

  /**
   * The last `count` events (fewer in a shorter session), decrypted and checked, and the
   * head seq, in one short transaction: what an agent reading "where was I" needs, at a
   * cost that does not grow with the session. The head event is also checked against the
   * session's recorded head.
   */
  async tail(count: number): Promise<{ head: number; events: VaultEvent[] }> {
    if (!Number.isSafeInteger(count) || count < 1 || count > 10_000) throw new InputError('INVALID_INPUT', 'count must be an integer 1..10000');
    return decryptedAt(this.deps, this.tenant, this.id, count, []);
  }

  /**
   * The events newest first, read back from the head: the tail in one round trip, then
   * earlier events in windows that double (up to 4,096) until the consumer stops. What
   * "the last N of something" costs then depends on how far back it is, not on the
   * session's length. Each event is decrypted and checked as by `events`.
   */
  async *eventsBackward(firstWindow = 8): AsyncGenerator<VaultEvent> {
    if (!Number.isSafeInteger(firstWindow) || firstWindow < 1 || firstWindow > 4096) throw new InputError('INVALID_INPUT', 'firstWindow must be an integer 1..4096');
    const tail = await this.tail(firstWindow);
    for (let i = tail.events.length - 1; i >= 0; i -= 1) yield tail.events[i]!;
    let hi = tail.head - tail.events.length;
    for (let width = firstWindow * 2; hi >= 1; width = Math.min(width * 2, 4096)) {
      const lo = Math.max(1, hi - width + 1);
      const page = await collectEvents(decryptedEvents(this.deps, this.tenant, this.id, lo, hi));
      for (let i = page.length - 1; i >= 0; i -= 1) yield page[i]!;
      hi = lo - 1;
    }
  }

  /** Particular events by seq (at most 1,000; seqs past the head are left out), decrypted and checked, and the head seq. */
  async eventsAt(seqs: readonly number[]): Promise<{ head: number; events: VaultEvent[] }> {
    if (!Array.isArray(seqs) || seqs.length > 1000 || !seqs.every((s) => Number.isSafeInteger(s) && s >= 1)) {
      throw new InputError('INVALID_INPUT', 'seqs are 1..1000 integers ≥ 1');
    }
    return decryptedAt(this.deps, this.tenant, this.id, 0, seqs);
  }

  /**
   * The seq of the session's last event (0 for a session without events or that does not
   * exist yet), read from the session's row: no event is read or decrypted.
   */
  async headSeq(): Promise<number> {
    return (await sessionRow(this.deps, this.tenant, this.id))?.headSeq ?? 0;
  }

  /** The auditor bundle of this session (docs/export-format.md); plaintext only with `decrypt`. */
  export(options: ExportOptions = {}): Promise<Bundle> {
    return exportSession(this.deps, this.tenant, this.id, options);
  }

  /**
   * The agent state rebuilt from events, now or as of a seq or time. With `window`, only
   * the last `window` entries of each list (messages, tool calls, agent items, model
   * errors) and, in `window.omitted`, how many earlier ones it left out: up to
   * `snapshotWindow` (default 100) that read costs the same at any session length. Without
   * one, every entry, which costs what the session's length does.
   */
  async state(options: StateOptions = {}): Promise<AgentState> {
    return stateAt(this.deps, this.tenant, this.id, checkStateOptions(options));
  }

  /** The widest `state({ window })` answered at a cost flat in the session's length: the vault's `snapshotWindow`. */
  get flatWindow(): number {
    return this.deps.snapshotWindow;
  }

  /**
   * Where the session's recorded system and developer messages are, and the seq of its
   * last event of each type (`last.instructions`, `last.summary`…), with the head seq:
   * what a model context built from the tail needs besides the tail. Read off the latest
   * snapshot plus the events after it, so it costs the same at any session length.
   * With `since` (an event this caller holds: seq and hash), `after` holds every event
   * after it, decrypted and checked against the chain, when the read's fold passed
   * through it (the state this process holds is at that event, or the fold started
   * before it and found that hash there); otherwise it is absent. INVALID_INPUT for a
   * `since` that is not a seq ≥ 1 and a hash.
   */
  async landmarks(since?: { seq: number; hash: string }): Promise<{ head: number; landmarks: Landmarks; after?: VaultEvent[] }> {
    if (since !== undefined && (!Number.isSafeInteger(since.seq) || since.seq < 1 || typeof since.hash !== 'string')) {
      throw new InputError('INVALID_INPUT', 'since is an event: a seq ≥ 1 and its hash');
    }
    return landmarksAt(this.deps, this.tenant, this.id, since);
  }

  /**
   * The events after one this caller holds (its seq and hash), decrypted and checked
   * against the chain from it, and the head seq, in one statement: what a reader that
   * kept the session's latest events needs to catch up (a LangGraph thread's latest
   * checkpoint). Null when the chain no longer runs through the held event (a rewritten
   * row, a database restored to an earlier point), when the session is archived or
   * purged, or when more than a page of events (`pageSize`) follows it: read another way
   * then. CHAIN_BROKEN when the last event is not the head the session records;
   * KEY_DESTROYED once shredded (by any process); INVALID_INPUT for a `since` that is not
   * a seq ≥ 1 and a hash.
   */
  async eventsSince(since: { seq: number; hash: string }): Promise<{ head: number; events: VaultEvent[] } | null> {
    if (!since || !Number.isSafeInteger(since.seq) || since.seq < 1 || typeof since.hash !== 'string') {
      throw new InputError('INVALID_INPUT', 'since is an event: a seq ≥ 1 and its hash');
    }
    const read = await decryptedSince(this.deps, this.tenant, this.id, since, this.deps.pageSize);
    return read && { head: read.head, events: read.events };
  }

  /**
   * Decrypted events a reader of this session keeps in this process between reads (a
   * model context's landmarks and tail, src/integrations/openai/context-events.ts; a
   * LangGraph thread's events from its latest checkpoint on), as many sessions' as
   * `stateCache`, forgotten with the session's key (shred, eviction). Never changed once
   * held: copy what you hand out.
   */
  heldEvents(): HeldEvents | undefined {
    return this.deps.cache.heldEvents(this.tenant, this.id);
  }

  /** Holds events for `heldEvents`, ending at the last one (seq order); the caller gives them up. Nothing when `events` is empty. */
  holdEvents(events: readonly VaultEvent[]): void {
    const last = events[events.length - 1];
    if (last) this.deps.cache.holdEvents(this.tenant, this.id, { seq: last.seq, hash: last.hash, events });
  }

  /**
   * Writes an encrypted snapshot of the state at the head now, so the next `state()`
   * folds only what comes after (reads of the latest state also write one, in the
   * background, every `snapshotEvery` events). Derived data: it never changes a result.
   * Returns the seq it covers.
   */
  snapshot(): Promise<number> {
    return writeSnapshot(this.deps, this.tenant, this.id);
  }
}

/** A listing's `afterSeq`: a seq of the access trail, or 0 (from the first record); INVALID_INPUT for anything else. */
function trailSeq(afterSeq: number | undefined): number {
  if (afterSeq === undefined) return 0;
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new InputError('INVALID_INPUT', 'afterSeq is a seq of the trail: a whole number, 0 or more');
  return afterSeq;
}
