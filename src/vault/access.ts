import { InputError, isVaultError, StorageError, VaultError } from '../errors';
import { randomBytes } from 'node:crypto';
import { ACCESS_SALT_BYTES, accessHash, signTrailHead, TENANT_SECRET_BYTES, type AccessRecord } from '../audit';
import { GENESIS_HASH } from '../events';
import { appendAccess, lastAccess, readAccess, sqlState, tenantSecrets, type AccessRow } from '../store';
import { sessionId as validSessionId, tenantId as validTenantId, type EventStream } from '../domain';
import type { AgentState } from '../replay';
import type { Bundle } from '../audit';
import type { VaultDeps } from './deps';
import { decryptedEvents, seqRange } from './read';
import { exportSession, type ExportOptions } from './export';
import { openSession } from './open-session';
import { requireSession } from './session-row';
import { checkStateOptions, stateAt, type StateOptions } from './snapshots';
import { destroyTenantKey, retireTenantKey, rewrapTenant, rotateTenantKey } from './key-lifecycle';
import { checkKeys, wrapSigner, type KeyCheckReport } from './key-check';
import { clearHold, setHold, shred } from './shred';
import { moveToProvider, rotateMaster, type MasterRotation } from './master-rotation';
import { retireSigningKey, SIGNING_KEY_ID } from './signing-keys';
import { archiveSession, purge, requireTenant, restoreSession, setPolicy, type ArchiveResult, type PolicyChange, type PurgeResult } from './archive';
import { retentionRun, type RetentionItem } from './retention-run';
import { parsePolicy, policyAction, type RetentionPolicy } from '../retention';
import { TOKEN_ID_PATTERN, newToken } from '../tokens';
import { checkTokenSpec, createToken, revokeToken, type TokenInfo, type TokenSpec } from './tokens';

/** The master key rotation running in each vault (by its dependencies), if any: what a second call at the same moment joins. */
const masterRotations = new WeakMap<VaultDeps, Promise<MasterRotation>>();

/** Who is acting, and why: recorded with every access. */
export interface Operator {
  actor: string;
  reason?: string;
}

const ACTOR = /^[\x21-\x7e][\x20-\x7e]{0,127}$/;

/**
 * Appends one record to the access trail, chained to the last. Fails closed: if the
 * record cannot be written, throws ACCESS_TRAIL_UNAVAILABLE and the caller must not
 * go on, like an audit device that cannot log. `witnessed: false` writes and signs it
 * without waiting on the witness, which sees it with the next record's head (a tenant's
 * creation, like an append, does not wait on the witness).
 */
export async function recordAccess(deps: VaultDeps, r: Omit<AccessRecord, 'seq' | 'at'>, options: { witnessed?: boolean } = {}): Promise<void> {
  return recordAccesses(deps, [r], options);
}

/**
 * Appends records to the access trail in one statement: each chained to the one before
 * and signed as if written alone, then the last witnessed. All are stored or none (a
 * retention run records a group of sessions before acting on any of them). Fails closed
 * as `recordAccess` does.
 */
export async function recordAccesses(deps: VaultDeps, rs: readonly Omit<AccessRecord, 'seq' | 'at'>[], options: { witnessed?: boolean } = {}): Promise<void> {
  if (rs.length === 0) return;
  // A keyring that cannot be read fails here with its own error (KEYRING_MISSING…): no record, no access.
  const signer = await deps.signer();
  for (let attempt = 1; attempt <= 32; attempt++) {
    let note: string | null = null;
    try {
      const last = await lastAccess(deps.store.db);
      // Read after the last record: a tenant's first v3 record stored since is then either seen here or takes our seq (23505, and we read again).
      const secrets = await secretsOf(deps, rs);
      let [seq, prev] = [last?.seq ?? 0, last?.hash ?? GENESIS_HASH];
      const at = deps.clock();
      const rows = rs.map((r) => {
        const record = { ...r, seq: ++seq, at, salt: new Uint8Array(randomBytes(ACCESS_SALT_BYTES)), tenantSecret: r.tenant === null ? null : secrets.get(r.tenant)!, sessionKeyed: r.tenant !== null };
        const hash = accessHash(prev, record);
        prev = hash;
        // Signed with the checkpoint key: a record the database role alone could write lacks this.
        const signed = signer ? signTrailHead({ seq: record.seq, hash, at: record.at }, signer) : null;
        note = signed?.note ?? null;
        return { ...record, hash, keyId: signed?.keyId ?? null, signature: signed?.signature ?? null };
      });
      await appendAccess(deps.store, rows);
      for (const r of rows) deps.logger.info({ op: 'access', action: r.action, actor: r.actor, outcome: r.outcome, accessSeq: r.seq }, 'access recorded');
    } catch (e) {
      if (sqlState(e) === '23505') continue; // another writer took this seq: chain onto theirs
      throw new StorageError('ACCESS_TRAIL_UNAVAILABLE', 'the access trail cannot be written, so the operation is refused', { cause: e });
    }
    if (options.witnessed !== false) await witnessTrail(deps, note);
    return;
  }
  throw new StorageError('ACCESS_TRAIL_UNAVAILABLE', 'the access trail is too contended to write, so the operation is refused');
}

/**
 * The trail secret of each tenant the records name (the v3 form, audit/access.ts): the one
 * its first v3 record holds, or, for a tenant with none yet, 32 new random bytes, which
 * its first record stored fixes.
 */
async function secretsOf(deps: VaultDeps, rs: readonly Omit<AccessRecord, 'seq' | 'at'>[]): Promise<Map<string, Uint8Array>> {
  const tenants = [...new Set(rs.flatMap((r) => (r.tenant === null ? [] : [r.tenant])))];
  const secrets = await tenantSecrets(deps.store, tenants);
  for (const t of tenants) if (!secrets.has(t)) secrets.set(t, new Uint8Array(randomBytes(TENANT_SECRET_BYTES)));
  return secrets;
}

/**
 * Hands the new trail head to the witness, so deleting the newest records shows. Fails
 * closed: an operator action whose record cannot be witnessed does not go ahead. A witness
 * already at a later head (another process recorded after us) is fine.
 */
async function witnessTrail(deps: VaultDeps, note: string | null): Promise<void> {
  if (!note || !deps.witness) return;
  let outcome;
  try {
    outcome = await deps.witness.recordTrail(note);
  } catch (e) {
    // Our own errors say why (a store refused, a lock held) and carry no driver detail.
    const why = isVaultError(e) ? ` (${e.code}: ${e.message})` : '';
    throw new StorageError('ACCESS_TRAIL_UNAVAILABLE', `the access trail's head cannot be witnessed at ${deps.witness.location}, so the operation is refused${why}`, { cause: e });
  }
  if (outcome === 'witness_fork') {
    throw new StorageError('ACCESS_TRAIL_UNAVAILABLE', `the witness holds another access-trail head at this seq: the trail was rolled back or rewritten; run verify`);
  }
}

/**
 * An operator's access to decrypted data: every call first appends a `granted` record
 * (actor, action, tenant, session, reason) to the access trail, then runs; a failure
 * appends `failed:<CODE>`. The application's own reads (vault.session) are not
 * operator access and are not recorded.
 */
export class OperatorAccess {
  /** Which kind of access this handle is (docs/threat-model.md, "Who decrypts"): every call recorded first. */
  readonly access = 'operator' as const;
  /** @internal — use vault.operator(). */
  constructor(
    private readonly deps: VaultDeps,
    private readonly who: Operator,
  ) {
    if (typeof who.actor !== 'string' || !ACTOR.test(who.actor)) {
      throw new InputError('ACTOR_REQUIRED', 'an operator id (--actor or VAULT_ACTOR: 1..128 printable characters) is required to decrypt or export');
    }
    if (who.reason !== undefined && (who.reason.length === 0 || who.reason.length > 1000)) {
      throw new InputError('INVALID_INPUT', '--reason must be 1..1000 characters');
    }
  }

  /** Decrypted events of a session, after recording the access. */
  async events(tenant: string, session: string, options: { fromSeq?: number; toSeq?: number } = {}): Promise<EventStream> {
    const [t, s] = [validTenantId(tenant), validSessionId(session)];
    const { fromSeq, toSeq } = seqRange(options);
    return this.guarded('events', t, s, async () => {
      if (!this.deps.cache.get(t, s)) await openSession(this.deps, t, s, null); // an unknown session fails here, recorded
      return decryptedEvents(this.deps, t, s, fromSeq, toSeq);
    });
  }

  /** The replayed state, after recording the access. */
  async state(tenant: string, session: string, options: StateOptions = {}): Promise<AgentState> {
    const [t, s] = [validTenantId(tenant), validSessionId(session)];
    const checked = checkStateOptions(options);
    return this.guarded('replay', t, s, async () => {
      return stateAt(this.deps, t, s, checked);
    });
  }

  /** The auditor bundle, after recording the access (`export` or `export-decrypted`). */
  async export(tenant: string, session: string, options: ExportOptions = {}): Promise<Bundle> {
    const [t, s] = [validTenantId(tenant), validSessionId(session)];
    return this.guarded(options.decrypt ? 'export-decrypted' : 'export', t, s, () => exportSession(this.deps, t, s, options));
  }

  /** Rotates the tenant key (new primary version), recorded as `keys.rotate`. */
  async rotateKey(tenant: string): Promise<{ version: number; previous: number }> {
    const t = validTenantId(tenant);
    return this.guarded('keys.rotate', t, null, () => rotateTenantKey(this.deps, t));
  }

  /**
   * Whether every stored key still opens (key-check.ts): each tenant key version through
   * the key provider, each session key with its tenant key. Recorded as `keys.check`; reads
   * only. Needs the keys, so it is the key holder's proof of what `verify` can only name:
   * that a key whose wrap verify finds unsigned no longer opens.
   * With `sign`, recorded as `keys.sign`, it also signs each wrap that opens and carries no
   * trusted signature, so that `verify` can tell it from other bytes written over it.
   */
  async checkKeys(tenant?: string, options: { sign?: boolean } = {}): Promise<KeyCheckReport> {
    const t = tenant === undefined ? undefined : validTenantId(tenant);
    if (options.sign) await wrapSigner(this.deps); // refused before any record: a vault that signs nothing writes unsigned ones
    return this.guarded(options.sign ? 'keys.sign' : 'keys.check', t ?? null, null, () => checkKeys(this.deps, t, options));
  }

  /** Rewraps every session key under the primary version, recorded as `keys.rewrap`. Resumable. */
  async rewrap(tenant: string, onProgress?: (done: number, total: number) => void): Promise<{ rewrapped: number; held: number; primary: number }> {
    const t = validTenantId(tenant);
    return this.guarded('keys.rewrap', t, null, () => rewrapTenant(this.deps, t, onProgress));
  }

  /** Retires a version nothing depends on, recorded as `keys.retire`. */
  async retireKey(tenant: string, version: number): Promise<void> {
    const t = validTenantId(tenant);
    return this.guarded(`keys.retire`, t, null, () => retireTenantKey(this.deps, t, version));
  }

  /** Destroys a retired version, recorded as `keys.destroy`. */
  async destroyKey(tenant: string, version: number): Promise<void> {
    const t = validTenantId(tenant);
    return this.guarded(`keys.destroy`, t, null, () => destroyTenantKey(this.deps, t, version));
  }

  /**
   * Rotates the keyring's master key (resumable), recorded as `keys.rotate-master`. A call
   * made while another runs in this process joins it: recorded as its own, it waits for
   * that rotation and reports its primary, `created: false`, having moved nothing itself.
   */
  async rotateMaster(onProgress?: (done: number, total: number) => void): Promise<MasterRotation> {
    const running = masterRotations.get(this.deps);
    if (running) return this.guarded('keys.rotate-master', null, null, async () => ({ primary: (await running).primary, created: false, rewrapped: 0, removed: [] }));
    // With a provider of its own (HSM, KMS) the rotation moves every tenant key under it;
    // with the keyring file's master keys, a new master key replaces the old.
    const rotate = this.deps.ownProvider ? moveToProvider : rotateMaster;
    // Registered before anything is awaited: a second call at the same moment joins this one instead of starting another once it is done.
    const rotation = this.guarded('keys.rotate-master', null, null, () => rotate(this.deps, this.deps.keyringPath, onProgress));
    masterRotations.set(this.deps, rotation);
    try {
      return await rotation;
    } finally {
      masterRotations.delete(this.deps);
    }
  }

  /**
   * Retires a signing key the keyring does not hold (signing-keys.ts) at `at` (default
   * now; earlier, for a key known to have leaked since), recorded as
   * `keys.retire-signing:<id>`. Returns the retirement in force.
   */
  async retireSigningKey(keyId: string, at: Date = this.deps.clock()): Promise<Date> {
    if (typeof keyId !== 'string' || !SIGNING_KEY_ID.test(keyId)) throw new InputError('INVALID_INPUT', 'a signing key id is `ed25519:` and 16 hex digits');
    if (!(at instanceof Date) || Number.isNaN(at.getTime()) || at.getTime() > this.deps.clock().getTime()) throw new InputError('INVALID_INPUT', 'a signing key is retired now or at a time past');
    return this.guarded(`keys.retire-signing:${keyId}`, null, null, () => retireSigningKey(this.deps, keyId, at));
  }

  /**
   * Places a legal hold on a session (a reason is required), recorded as `hold.set`.
   * Returns false if one was in force. A session archived before its hold is then restored
   * (recorded as `retention.restore`), so that the held evidence is the database's to keep,
   * not the archive store's alone; if that fails (the store unreachable, the object gone)
   * the hold stands, the failure is recorded and logged, and the next retention run tries
   * again (`sessionInfo` shows the session still archived).
   */
  async setHold(tenant: string, session: string): Promise<boolean> {
    const [t, s] = [validTenantId(tenant), validSessionId(session)];
    const reason = this.requireReason('a legal hold');
    const changed = await this.guarded('hold.set', t, s, () => setHold(this.deps, t, s, this.who.actor, reason), UNCHANGED_IF_FALSE);
    if ((await requireSession(this.deps, t, s)).status === 'archived') {
      await this.guarded('retention.restore', t, s, () => restoreSession(this.deps, t, s)).catch((e: unknown) => {
        if (!(e instanceof VaultError)) throw e;
        this.deps.logger.warn({ op: 'hold.set', tenant: t, session: s, code: e.code }, 'a held session stays archived: the next retention run restores it');
      });
    }
    return changed;
  }

  /** Lifts a legal hold (a reason is required), recorded as `hold.clear`. Returns false if none was in force. */
  async clearHold(tenant: string, session: string): Promise<boolean> {
    const [t, s] = [validTenantId(tenant), validSessionId(session)];
    const reason = this.requireReason('lifting a legal hold');
    return this.guarded('hold.clear', t, s, () => clearHold(this.deps, t, s, this.who.actor, reason), UNCHANGED_IF_FALSE);
  }

  /**
   * Crypto-shreds a session, or the whole tenant: its keys are destroyed, its content can
   * never be read again, its chain still verifies. Refused under legal hold. Recorded as
   * `keys.shred` (who, when, why) in the access trail before it happens.
   */
  async shred(tenant: string, session?: string): Promise<{ sessions: number; tenantKeysDestroyed: boolean }> {
    const t = validTenantId(tenant);
    const s = session === undefined ? undefined : validSessionId(session);
    return this.guarded('keys.shred', t, s ?? null, () => shred(this.deps, t, s, { actor: this.who.actor, reason: this.who.reason ?? null }));
  }

  /**
   * Sets a tenant's retention policy (`30d`, `7y`…), recorded with its values as
   * `retention.set:<archive-after>/<retain>[/<mode>]`. A shorter `retain` applies to new
   * sessions only; `overrideFloors` (governance mode only, a reason required) applies it
   * to existing ones too and is recorded as `retention.override:…`. `mode: 'compliance'`
   * is for good.
   */
  async setRetention(tenant: string, change: PolicyChange): Promise<RetentionPolicy> {
    const t = validTenantId(tenant);
    const policy = parsePolicy(change); // bad input is refused before anything is recorded
    if (change.mode !== undefined && change.mode !== 'governance' && change.mode !== 'compliance') {
      throw new InputError('INVALID_INPUT', '--mode is governance or compliance');
    }
    if (change.overrideFloors) this.requireReason('lowering retention floors (--override-floors)', 'REASON_REQUIRED');
    // The values go into the signed record: they are what verify, purge and shred hold the
    // policy row and the sessions' floors to (retention/recorded-policy.ts).
    const action = policyAction({ override: change.overrideFloors === true, policy, ...(change.mode ? { mode: change.mode } : {}) });
    return (await this.guarded(action, t, null, () => setPolicy(this.deps, t, change, this.who.actor))).policy;
  }

  /** Archives one session now (whatever its policy says), recorded as `retention.archive`. */
  async archive(tenant: string, session: string): Promise<ArchiveResult> {
    const [t, s] = [validTenantId(tenant), validSessionId(session)];
    return this.guarded('retention.archive', t, s, () => archiveSession(this.deps, t, s, this.who.actor));
  }

  /** Brings an archived session back to hot storage, recorded as `retention.restore`. */
  async restore(tenant: string, session: string): Promise<boolean> {
    const [t, s] = [validTenantId(tenant), validSessionId(session)];
    return this.guarded('retention.restore', t, s, () => restoreSession(this.deps, t, s));
  }

  /** Purges an archived session past its retention (never under hold), recorded as `retention.purge`. */
  async purge(tenant: string, session: string): Promise<PurgeResult> {
    const [t, s] = [validTenantId(tenant), validSessionId(session)];
    return this.guarded('retention.purge', t, s, () => purge(this.deps, t, s, this.who.actor));
  }

  /**
   * Runs retention for every tenant (or one): recorded as `retention.run`, and each
   * archive and purge as its own record, written a group at a time before the group runs
   * (and its failures after). Streams results group by group (see retentionRun).
   */
  async *retentionRun(options: { dryRun?: boolean; tenant?: string; onSession?: () => void } = {}): AsyncGenerator<RetentionItem> {
    const tenant = options.tenant === undefined ? undefined : validTenantId(options.tenant);
    if (tenant !== undefined) await requireTenant(this.deps, tenant); // refused before anything is recorded
    const base = { actor: this.who.actor, reason: this.who.reason ?? null };
    await recordAccess(this.deps, { ...base, action: options.dryRun ? 'retention.run.dry' : 'retention.run', tenant: tenant ?? null, session: null, outcome: 'granted' });
    yield* retentionRun(this.deps, {
      ...options,
      tenant,
      actor: this.who.actor,
      record: (entries) => recordAccesses(this.deps, entries.map((e) => ({ ...base, ...e }))),
    });
  }

  /**
   * Creates an API token of the HTTP service for a tenant (docs/service.md), recorded as
   * `tokens.create:<id>:<role>`. The token is returned once and stored only as a hash.
   */
  async createToken(tenant: string, spec: TokenSpec): Promise<{ token: string; info: TokenInfo }> {
    const t = validTenantId(tenant);
    checkTokenSpec(spec, this.deps.clock());
    const made = newToken(t);
    return this.guarded(`tokens.create:${made.id}:${spec.role}`, t, null, () => createToken(this.deps, t, spec, this.who.actor, made));
  }

  /** Revokes an API token for good, recorded as `tokens.revoke:<id>`. False if it was already revoked. */
  async revokeToken(tenant: string, id: string): Promise<boolean> {
    const t = validTenantId(tenant);
    if (typeof id !== 'string' || !TOKEN_ID_PATTERN.test(id)) throw new InputError('INVALID_ID', 'a token id is 16 hex characters');
    return this.guarded(`tokens.revoke:${id}`, t, null, () => revokeToken(this.deps, t, id, this.who.actor));
  }

  private requireReason(what: string, code: 'INVALID_INPUT' | 'REASON_REQUIRED' = 'INVALID_INPUT'): string {
    if (!this.who.reason) throw new InputError(code, `${what} needs --reason`);
    return this.who.reason;
  }

  /**
   * Runs any operator operation (key and retention operations too) after recording it:
   * `granted` first, `failed:<CODE>` if it then fails. Refused if the record cannot be written.
   */
  async recorded<T>(action: string, scope: { tenant?: string; session?: string }, fn: () => Promise<T>): Promise<T> {
    return this.guarded(action, scope.tenant ?? null, scope.session ?? null, fn);
  }

  /**
   * Records the access as granted, then runs it; a failure is recorded after it as
   * `failed:<CODE>`, and, where `unchanged` says so of the result, an operation that
   * changed nothing as `unchanged` (trail-records.ts: either cancels the granted record,
   * so that it accounts for no row the checks compare with the trail). A failure record
   * that cannot be written is dropped (the operation's own error is thrown); an
   * `unchanged` one that cannot be is ACCESS_TRAIL_UNAVAILABLE.
   */
  private async guarded<T>(action: string, tenant: string | null, session: string | null, fn: () => Promise<T>, unchanged?: (result: T) => boolean): Promise<T> {
    const base = { actor: this.who.actor, action, tenant, session, reason: this.who.reason ?? null };
    await recordAccess(this.deps, { ...base, outcome: 'granted' });
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      const code = e instanceof VaultError ? e.code : 'INTERNAL';
      await recordAccess(this.deps, { ...base, outcome: `failed:${code}` }).catch(() => {});
      throw e;
    }
    if (unchanged?.(result)) {
      // Its granted record, left standing, could account for a row written outside the
      // vault (a forged hold near it): the caller learns the trail failed, not of success.
      await recordAccess(this.deps, { ...base, outcome: 'unchanged' }).catch((e: unknown) => {
        throw new StorageError('ACCESS_TRAIL_UNAVAILABLE', `${action} changed nothing, but the access trail could not record that, so its granted record stands`, { cause: e });
      });
    }
    return result;
  }
}

/** The access trail, page by page, optionally for one tenant, since a time, and after a seq. */
export async function* accessTrail(deps: VaultDeps, filter: { tenant?: string; withVault?: boolean; since?: Date; afterSeq?: number } = {}): AsyncGenerator<AccessRow> {
  for (let after = filter.afterSeq ?? 0; ; ) {
    const page = await readAccess(deps.store.db, after, 500, filter);
    yield* page;
    if (page.length < 500) return;
    after = page[page.length - 1]!.seq;
  }
}

/** For holds: `false` is "one was in force already" or "none was": nothing written. */
const UNCHANGED_IF_FALSE = (changed: boolean) => !changed;
