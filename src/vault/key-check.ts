import { InputError, KeyError, StorageError } from '../errors';
import type { SecretBytes } from '../crypto';
import { dataKeyAad, unwrapKey } from '../keys';
import type { CheckpointSigner, KeyPeriods } from '../audit';
import { listSessions, listTenantKeys, listTenants, readWrapsSigned, setWrapsSigned, signSessionWrap, signTenantKeyWrap, withTenant, type SessionRow } from '../store';
import type { VaultDeps } from './deps';
import { sessionSubject, signedWrap, storedWrapSigned, tenantKeySubject } from './key-wraps';

/**
 * `keys check`: whether every stored key still opens. Each tenant key version that is not
 * destroyed is unwrapped through the key provider (not from this process's cache), and
 * each session's wrapped data key with its tenant key, under the associated data it was
 * wrapped with. What only a key holder can see: a wrapped key written over with other
 * bytes, or re-bound to other versions, destroys the key as a shred would, with no shred
 * marker; `verify`, which holds no key, names the wrap no trusted key signed (drizzle/0049)
 * but cannot tell whether it still opens. (Under a legal hold the database refuses it:
 * drizzle/0043; elsewhere an operator's credentials may.)
 * Every key is zeroed once checked.
 *
 * It also counts the wraps that open but that no trusted key signed (`unsigned`): those
 * written before drizzle/0049 or with signing off, or whose signature was stripped. With
 * `sign` (`keys check --sign`), it signs each of them as it stands, at its place in the
 * wrap sequence, once it has opened it: only a holder of the key above can make a wrap
 * that opens, so opening is the proof the signature then states. Otherwise it reads only.
 * A wrap that carries a signature which does not count (no trusted key made it, or a
 * retired key's stored after its period: audit/key-period.ts) is not one of those: someone
 * signed it outside the vault, so it is a problem (`…_untrusted`), never signed over.
 */

export type KeyProblemKind = 'tenant_key_unreadable' | 'session_key_unreadable' | 'tenant_key_untrusted' | 'session_key_untrusted';

export interface KeyProblem {
  tenant: string;
  /** The tenant key version: the one that failed, or the one the session's key is wrapped by. */
  version: number;
  session?: string;
  kind: KeyProblemKind;
  /**
   * Why, as an error code: DECRYPTION_FAILED (other bytes, other binding), KEY_NOT_FOUND (a
   * master key or version this vault does not have), KEY_DESTROYED; WRAP_UNSIGNED (`…_untrusted`)
   * for a wrap that opens but that no trusted key signed, in a tenant whose wraps are all
   * signed, or that carries a signature which does not count, in any tenant: written outside
   * the vault by a holder of the key above it, so never signed over.
   */
  code: string;
}

export interface KeyCheckReport {
  ok: boolean;
  tenants: number;
  tenantKeys: number;
  sessionKeys: number;
  /** Wraps that open and that no trusted key signed (before this run signed any): `verify` names each (session_key_unsigned, tenant_key_unsigned). */
  unsigned: number;
  /** Of those, how many this run signed (`--sign`). */
  signed: number;
  /**
   * Of the tenants checked, how many have every key wrap signed for good (drizzle/0051): the
   * vault opens no unsigned wrap of theirs. A tenant created by a vault that signs is one
   * from the start; `--sign` makes one of a tenant it leaves with no unsigned wrap.
   */
  signedOnly: number;
  problems: KeyProblem[];
}

/** A key that does not open, as opposed to a provider that did not answer (which ends the check: it proves nothing either way). */
const UNREADABLE = new Set(['DECRYPTION_FAILED', 'KEY_NOT_FOUND', 'KEY_DESTROYED']);

function unreadable(e: unknown): string | null {
  return e instanceof KeyError && UNREADABLE.has(e.code) ? e.code : null;
}

/** Checks one tenant's keys, or every tenant's. UNKNOWN_TENANT for a tenant that does not exist (rather than a clean report of nothing). */
export async function checkKeys(deps: VaultDeps, tenant?: string, options: { sign?: boolean } = {}): Promise<KeyCheckReport> {
  const all = (await listTenants(deps.store.db)).map((t) => t.tenant);
  if (tenant !== undefined && !all.includes(tenant)) throw new InputError('UNKNOWN_TENANT', `unknown tenant ${tenant}`);
  const tenants = tenant !== undefined ? [tenant] : all;
  const signer = options.sign ? await wrapSigner(deps) : null;
  const wraps: Wraps = { trusted: await deps.trustedKeys(), periods: await deps.keyPeriods(), signer };
  const report: KeyCheckReport = { ok: true, tenants: tenants.length, tenantKeys: 0, sessionKeys: 0, unsigned: 0, signed: 0, signedOnly: 0, problems: [] };
  for (const t of tenants) await checkTenant(deps, t, report, wraps);
  report.ok = report.problems.length === 0;
  return report;
}

/** The checkpoint key, which signs key wraps; KEY_NOT_FOUND where the vault signs nothing. */
export async function wrapSigner(deps: VaultDeps): Promise<CheckpointSigner> {
  const signer = await deps.signer();
  if (!signer) throw new KeyError('KEY_NOT_FOUND', 'checkpoints are disabled (no signing key), so there is nothing to sign key wraps with');
  return signer;
}

/** The keys a wrap's signature is checked with and their periods, and the signer of those that carry none (with `--sign`). */
interface Wraps {
  trusted: ReadonlyMap<string, Uint8Array>;
  periods: KeyPeriods;
  signer: CheckpointSigner | null;
}

async function checkTenant(deps: VaultDeps, tenant: string, report: KeyCheckReport, wraps: Wraps): Promise<void> {
  const opened = new Map<number, SecretBytes>();
  /** Versions that did not open, and why: their sessions' keys cannot open either. */
  const failed = new Map<number, string>();
  const signedOnly = await withTenant(deps.store.db, tenant, 'reading the wrap rule', (tx) => readWrapsSigned(tx, tenant));
  const before = { problems: report.problems.length, unsigned: report.unsigned, signed: report.signed };
  /**
   * A wrap that opens and that no trusted key signed: signed (`--sign`) in a tenant of older
   * wraps where it carries no signature; one that carries a signature that does not count,
   * or any in a tenant whose wraps are all signed, was written outside the vault.
   */
  const unsignedWrap = (kind: 'tenant_key_untrusted' | 'session_key_untrusted', version: number, carried: boolean, session?: string): boolean => {
    if (!signedOnly && !carried) {
      report.unsigned++;
      return wraps.signer !== null;
    }
    report.problems.push({ tenant, version, ...(session !== undefined ? { session } : {}), kind, code: 'WRAP_UNSIGNED' });
    return false;
  };
  try {
    const versions = await withTenant(deps.store.db, tenant, 'reading tenant keys', (tx) => listTenantKeys(tx, tenant));
    for (const v of versions) {
      if (v.state === 'destroyed') {
        failed.set(v.version, 'KEY_DESTROYED');
        continue;
      }
      report.tenantKeys++;
      try {
        opened.set(v.version, await deps.keys.unwrapStored(v));
      } catch (e) {
        const code = unreadable(e);
        if (code === null) throw e;
        failed.set(v.version, code);
        report.problems.push({ tenant, version: v.version, kind: 'tenant_key_unreadable', code });
        continue;
      }
      const subject = tenantKeySubject(v);
      if (storedWrapSigned(subject, v.wrappedKey!, v, wraps.trusted, wraps.periods)) continue;
      if (!unsignedWrap('tenant_key_untrusted', v.version, v.wrapSignature !== null) || !wraps.signer) continue;
      const signed = signedWrap(wraps.signer, subject, v.wrapSeq ?? 1, v.wrappedKey!);
      if (await withTenant(deps.store.db, tenant, 'signing a key wrap', (tx) => signTenantKeyWrap(tx, tenant, v.version, v.wrappedKey!, signed))) report.signed++;
    }
    let after: string | null = null;
    for (;;) {
      const page: SessionRow[] = await withTenant(deps.store.db, tenant, 'reading session keys', (tx) => listSessions(tx, tenant, after, 500));
      const toSign = page.filter(
        (s) =>
          s.wrappedDataKey &&
          checkSession(s, opened, failed, report) &&
          !storedWrapSigned(sessionSubject(s), s.wrappedDataKey, s, wraps.trusted, wraps.periods) &&
          unsignedWrap('session_key_untrusted', s.tenantKeyVersion, s.wrapSignature !== null, s.session),
      );
      const signer = wraps.signer;
      if (signer && toSign.length > 0) {
        report.signed += await withTenant(deps.store.db, tenant, 'signing key wraps', async (tx) => {
          let n = 0;
          for (const s of toSign) if (await signSessionWrap(tx, tenant, s.session, s.wrappedDataKey!, signedWrap(signer, sessionSubject(s), s.wrapSeq ?? 1, s.wrappedDataKey!))) n++;
          return n;
        });
      }
      if (page.length < 500) break;
      after = page[page.length - 1]!.session;
    }
    const clean = report.problems.length === before.problems && report.unsigned - before.unsigned === report.signed - before.signed;
    if (signedOnly || (wraps.signer && clean && (await signedFromNow(deps, tenant)))) report.signedOnly++;
  } finally {
    for (const k of opened.values()) k.dispose();
  }
}

/**
 * After `--sign` left a tenant with no unsigned wrap: its wraps are signed from now on
 * (setWrapsSigned). The database refuses it where a writer with signing off stored an
 * unsigned wrap meanwhile; the tenant then stays as it was, and the next run signs that one.
 */
async function signedFromNow(deps: VaultDeps, tenant: string): Promise<boolean> {
  try {
    await withTenant(deps.store.db, tenant, 'requiring signed key wraps', (tx) => setWrapsSigned(tx, tenant));
  } catch (e) {
    if (!(e instanceof StorageError && e.code === 'STORAGE_REFUSED')) throw e;
    deps.logger.warn({ op: 'keys.sign', tenant }, 'an unsigned key wrap was stored meanwhile: the tenant is left as it was; run keys check --sign again');
    return false;
  }
  deps.logger.info({ op: 'keys.sign', tenant }, 'every key wrap of the tenant is signed from now on');
  return true;
}

/** Whether a session's key opens; reports why not when it does not. */
function checkSession(s: SessionRow, opened: Map<number, SecretBytes>, failed: Map<number, string>, report: KeyCheckReport): boolean {
  report.sessionKeys++;
  const problem = (code: string) => report.problems.push({ tenant: s.tenant, version: s.tenantKeyVersion, session: s.session, kind: 'session_key_unreadable', code });
  const tenantKey = opened.get(s.tenantKeyVersion);
  if (!tenantKey) {
    // Its tenant key version did not open (reported above), or is not there at all.
    problem(failed.get(s.tenantKeyVersion) ?? 'KEY_NOT_FOUND');
    return false;
  }
  try {
    unwrapKey(tenantKey, s.wrappedDataKey!, dataKeyAad(s.tenant, s.session, s.dataKeyVersion, s.tenantKeyVersion)).dispose();
    return true;
  } catch (e) {
    const code = unreadable(e);
    if (code === null) throw e;
    problem(code);
    return false;
  }
}
