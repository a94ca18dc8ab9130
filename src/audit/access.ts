import { blake2b256, bytes, bytesEqual, frame, opt, str, u64, verifyDetached } from '../crypto';
import { GENESIS_HASH } from '../events';
import type { AccessRecord } from '../domain';
import { noteWith, signBytes, splitNote, type CheckpointSigner } from './checkpoint';
import { laterKeys, recordInPeriod, type KeyPeriods } from './key-period';

export type { AccessRecord };

/**
 * The operator access trail's records and hash chain (docs/formats.md). A record with a
 * salt (every record written since migration 0059) is chained in the v2 form, which keeps
 * its tenant, its session and its other fields in digests of their own, so that a listing
 * for one tenant, or one session, can withhold every other record and still be checked
 * (audit/trail-file.ts):
 *   tenant_n  = BLAKE2b-256( str("session-vault/access-tenant/v2") ‖ u64(seq) ‖ opt(str(tenant)) )
 *   session_n = BLAKE2b-256( str("session-vault/access-session/v2") ‖ u64(seq) ‖ opt(str(tenant)) ‖ opt(str(session)) )
 *   fields_n  = BLAKE2b-256( str("session-vault/access-fields/v2") ‖ bytes(salt, 16 random bytes)
 *                            ‖ str(actor) ‖ str(action) ‖ opt(str(reason)) ‖ str(outcome) )
 *   hash_n    = BLAKE2b-256( str("session-vault/access/v2") ‖ bytes(hash_{n-1}) ‖ u64(seq)
 *                            ‖ u64(at ms) ‖ bytes(tenant_n) ‖ bytes(session_n) ‖ bytes(fields_n) )
 * A record of a tenant written since migration 0061 is in the v3 form: the v2 form with its
 * tenant's trail secret (32 random bytes, fixed for the tenant by its first such record) in
 * the tenant's and the session's digests, so that only who holds the secret (the vault,
 * the tenant's auditor) can tell a withheld record of the tenant from another's:
 *   tenant_n  = BLAKE2b-256( str("session-vault/access-tenant/v3") ‖ bytes(secret) ‖ u64(seq) ‖ str(tenant) )
 *   session_n = BLAKE2b-256( str("session-vault/access-session/v3") ‖ bytes(secret) ‖ u64(seq) ‖ str(tenant) ‖ opt(str(session)) )
 * fields_n and hash_n as in v2. A record of a tenant written since migration 0062 is in the
 * v4 form: the v3 form with its session's digest keyed instead by the session's trail key,
 * derived from the tenant's secret, so that a session's listing (what a customer asking
 * who read their conversation is handed) can show the session's records with that key and
 * not the tenant's secret, by which its holder could try the tenant's other session ids:
 *   key_n     = BLAKE2b-256( str("session-vault/access-session-key/v4") ‖ bytes(secret) ‖ str(tenant) ‖ opt(str(session)) )
 *   session_n = BLAKE2b-256( str("session-vault/access-session/v4") ‖ bytes(key_n) ‖ u64(seq) ‖ str(tenant) ‖ opt(str(session)) )
 * tenant_n, fields_n and hash_n as in v3. A record with no tenant (the vault's own) stays
 * in the v2 form: it is shown to every tenant's auditor, and no name of it is there to guess.
 * A record without a salt (written before 0059) is chained in the v1 form:
 *   hash_n = BLAKE2b-256( str("session-vault/access/v1") ‖ bytes(hash_{n-1}) ‖ u64(seq)
 *                         ‖ u64(at ms) ‖ str(actor) ‖ str(action) ‖ opt(str(tenant))
 *                         ‖ opt(str(session)) ‖ opt(str(reason)) ‖ str(outcome) )
 * with 32 zero bytes before seq 1. The salt keeps a withheld record's fields from being
 * guessed from their digest, the tenant's secret its tenant and session.
 */
export const ACCESS_TAG = 'session-vault/access/v1';
export const ACCESS_TAG_V2 = 'session-vault/access/v2';
const TENANT_TAG = 'session-vault/access-tenant/v2';
const SESSION_TAG = 'session-vault/access-session/v2';
const FIELDS_TAG = 'session-vault/access-fields/v2';
const TENANT_TAG_V3 = 'session-vault/access-tenant/v3';
const SESSION_TAG_V3 = 'session-vault/access-session/v3';
const SESSION_KEY_TAG_V4 = 'session-vault/access-session-key/v4';
const SESSION_TAG_V4 = 'session-vault/access-session/v4';
export const ACCESS_SALT_BYTES = 16;
export const TENANT_SECRET_BYTES = 32;

/** What a record's tenant and session digests are keyed by: its tenant's trail secret (v3), or nothing (v2). */
type Secret = Uint8Array | null | undefined;

function checkSecret(secret: Uint8Array, tenant: string | null): void {
  if (secret.length !== TENANT_SECRET_BYTES) throw new RangeError(`a tenant's trail secret is ${TENANT_SECRET_BYTES} bytes`);
  if (tenant === null) throw new RangeError("a record with no tenant has no tenant's trail secret");
}

/**
 * A record's tenant, committed to with its seq (and, v3, keyed by the tenant's trail
 * secret): what a listing shows of a withheld record's tenant.
 */
export function tenantCommitment(seq: number, tenant: string | null, secret?: Secret): Uint8Array {
  if (!secret) return blake2b256(frame([str(TENANT_TAG), u64(seq), opt(tenant, str)]));
  checkSecret(secret, tenant);
  return blake2b256(frame([str(TENANT_TAG_V3), bytes(secret), u64(seq), str(tenant!)]));
}

/** A record's session (within its tenant), committed to as its tenant is: what a listing shows of a withheld record's session. */
export function sessionCommitment(seq: number, tenant: string | null, session: string | null, secret?: Secret): Uint8Array {
  if (!secret) return blake2b256(frame([str(SESSION_TAG), u64(seq), opt(tenant, str), opt(session, str)]));
  checkSecret(secret, tenant);
  return blake2b256(frame([str(SESSION_TAG_V3), bytes(secret), u64(seq), str(tenant!), opt(session, str)]));
}

/**
 * A session's trail key (v4): what its records' session digests are keyed by, derived from
 * its tenant's trail secret, so that whoever holds it can tell the session's withheld
 * records and no other session's.
 */
export function sessionTrailKey(secret: Uint8Array, tenant: string, session: string | null): Uint8Array {
  checkSecret(secret, tenant);
  return blake2b256(frame([str(SESSION_KEY_TAG_V4), bytes(secret), str(tenant), opt(session, str)]));
}

/** A record's session in the v4 form, keyed by the session's trail key: what a listing shows of a withheld record's session. */
export function sessionKeyCommitment(seq: number, tenant: string, session: string | null, key: Uint8Array): Uint8Array {
  if (key.length !== TENANT_SECRET_BYTES) throw new RangeError(`a session's trail key is ${TENANT_SECRET_BYTES} bytes`);
  return blake2b256(frame([str(SESSION_TAG_V4), bytes(key), u64(seq), str(tenant), opt(session, str)]));
}

/**
 * What keys a record's tenant and session digests: its tenant's trail secret (v3), and
 * whether its session's digest is keyed by the session's trail key derived from it (v4);
 * or, as a session's listing shows a v4 record, the session's key and the tenant's digest
 * in place of the secret. None: v2.
 */
export interface TrailKeys {
  tenantSecret?: Uint8Array | null;
  sessionKeyed?: boolean;
  sessionKey?: Uint8Array | null;
  tenantDigest?: Uint8Array | null;
}

/** A record's other fields, salted: what a listing shows of a withheld record's fields. */
export function fieldsDigest(salt: Uint8Array, r: Pick<AccessRecord, 'actor' | 'action' | 'reason' | 'outcome'>): Uint8Array {
  if (salt.length !== ACCESS_SALT_BYTES) throw new RangeError(`an access record's salt is ${ACCESS_SALT_BYTES} bytes`);
  return blake2b256(frame([str(FIELDS_TAG), bytes(salt), str(r.actor), str(r.action), opt(r.reason, str), str(r.outcome)]));
}

/** What a v2 record's hash covers: its seq and time, and the digests of its tenant, its session and its fields. */
export interface AccessDigests {
  seq: number;
  at: Date;
  tenant: Uint8Array;
  session: Uint8Array;
  fields: Uint8Array;
}

/** The digests of a v2, v3 or v4 record (one with a salt; v3 and v4 with their trail keys too). */
export function accessDigests(r: AccessRecord & { salt: Uint8Array } & TrailKeys): AccessDigests {
  const fields = fieldsDigest(r.salt, r);
  if (r.sessionKey || r.tenantDigest) {
    // A v4 record as a session's listing shows it: the session's key, and the tenant's digest the secret would give.
    if (!r.sessionKey || !r.tenantDigest || r.tenantSecret || r.sessionKeyed || r.tenant === null) throw new RangeError("a record with its session's trail key has its tenant's digest in place of the tenant's secret");
    if (r.tenantDigest.length !== 32) throw new RangeError("a tenant's digest is 32 bytes");
    return { seq: r.seq, at: r.at, tenant: r.tenantDigest, session: sessionKeyCommitment(r.seq, r.tenant, r.session, r.sessionKey), fields };
  }
  const tenant = tenantCommitment(r.seq, r.tenant, r.tenantSecret);
  if (!r.sessionKeyed) return { seq: r.seq, at: r.at, tenant, session: sessionCommitment(r.seq, r.tenant, r.session, r.tenantSecret), fields };
  if (!r.tenantSecret) throw new RangeError("a record whose session's digest is keyed by the session's trail key has its tenant's trail secret");
  return { seq: r.seq, at: r.at, tenant, session: sessionKeyCommitment(r.seq, r.tenant!, r.session, sessionTrailKey(r.tenantSecret, r.tenant!, r.session)), fields };
}

/** The v2 chain hash from the digests alone: how a withheld record is checked. */
export function accessLink(prev: Uint8Array, d: AccessDigests): Uint8Array {
  return blake2b256(frame([str(ACCESS_TAG_V2), bytes(prev), u64(d.seq), u64(d.at.getTime()), bytes(d.tenant), bytes(d.session), bytes(d.fields)]));
}

/** The chain hash of a record: v3 or v4 when it has a salt and its trail keys, v2 when it has a salt alone, v1 when it has none. */
export function accessHash(prev: Uint8Array, r: AccessRecord & { salt?: Uint8Array | null } & TrailKeys): Uint8Array {
  if ((r.tenantSecret || r.sessionKeyed || r.sessionKey || r.tenantDigest) && !r.salt) throw new RangeError("a record with its tenant's trail secret has a salt");
  if (r.salt) return accessLink(prev, accessDigests({ ...r, salt: r.salt }));
  return blake2b256(
    frame([
      str(ACCESS_TAG),
      bytes(prev),
      u64(r.seq),
      u64(r.at.getTime()),
      str(r.actor),
      str(r.action),
      opt(r.tenant, str),
      opt(r.session, str),
      opt(r.reason, str),
      str(r.outcome),
    ]),
  );
}

/**
 * The trail's head at a record, as a signed note (the signed-note layout of session
 * checkpoints, src/audit/checkpoint.ts), under its own origin:
 *
 *   session-vault/v1/access-trail
 *   <seq>
 *   <base64 of the record's chain hash>
 *   time <the record's time, ISO 8601 UTC, milliseconds>
 *
 * Every record carries an Ed25519 signature of its head (so a record inserted by anyone
 * without the signing key, the application's database role included, shows), and the
 * latest head is kept by the witness outside the database (so cutting the newest
 * records, which leaves a consistent chain, shows too).
 */
export const TRAIL_ORIGIN = 'session-vault/v1/access-trail';

export interface TrailHead {
  seq: number;
  hash: Uint8Array;
  at: Date;
}

export function trailHeadBody(h: TrailHead): string {
  return `${TRAIL_ORIGIN}\n${h.seq}\n${Buffer.from(h.hash).toString('base64')}\ntime ${h.at.toISOString()}\n`;
}

/** The signature stored with a record, and the note handed to the witness. */
export function signTrailHead(h: TrailHead, signer: CheckpointSigner): { keyId: string; signature: Uint8Array; note: string } {
  const body = trailHeadBody(h);
  const signature = signBytes(signer, Buffer.from(body, 'utf8'));
  return { keyId: signer.id, signature, note: noteWith(body, signer, signature) };
}

const TRAIL_BODY = /^session-vault\/v1\/access-trail\n([1-9]\d{0,15})\n([A-Za-z0-9+/]{43}=)\ntime (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\n$/;

/** A witnessed trail-head note's head, or null if it is not one (its signature is checked by the verifier). */
export function parseTrailHead(note: string): (TrailHead & { keyId: string; signature: Uint8Array }) | null {
  const split = splitNote(note);
  const m = split && TRAIL_BODY.exec(split.body);
  if (!split || !m || split.signatures[0]!.blob.length !== 68) return null;
  const at = new Date(m[3]!);
  if (Number.isNaN(at.getTime())) return null;
  return { seq: Number(m[1]), hash: new Uint8Array(Buffer.from(m[2]!, 'base64')), at, keyId: split.signatures[0]!.name, signature: split.signatures[0]!.blob.subarray(4) };
}

/** A record a listing withholds (audit/trail-file.ts): the digests of its tenant, session and fields in place of them. */
export interface WithheldRecord {
  seq: number;
  at: Date;
  withheld: { tenant: Uint8Array; session: Uint8Array; fields: Uint8Array };
}

/** A record as the chain verifier takes it, in full or withheld, with what was stored beside it. */
export type ChainedRecord = ((AccessRecord & { salt?: Uint8Array | null } & TrailKeys) | WithheldRecord) & {
  hash: Uint8Array;
  keyId?: string | null;
  signature?: Uint8Array | null;
  storedAt?: Date | null;
};

export type AccessProblemKind =
  | 'access_gap' // a seq is missing
  | 'access_hash_mismatch' // a record's hash is not the hash of its fields and its predecessor
  | 'access_unsigned' // a record without a signature after signed ones: written by someone without the signing key
  | 'access_bad_signature' // a signature that does not verify under a trusted key
  | 'access_outside_key_period' // signed by a retired key after its period, or after a key that followed it had signed a record
  | 'access_witness_beyond_head' // the witness saw a later head: the newest records were removed
  | 'access_witness_mismatch' // the record at the witnessed seq has another hash: the trail was rewritten
  | 'access_tenant_secret_changed' // a record of a tenant keyed by another secret than the tenant's first: one its auditor could not tell from another tenant's
  | 'access_time_invalid'; // a record dated where the format cannot put it (before 1970, not a finite time): not the vault's own, its hash cannot be computed

/**
 * Checks the trail in seq order: gapless from 1, every hash, every signature (once one
 * record is signed, all later ones must be), a retired key's signatures against its
 * period (audit/key-period.ts, recordInPeriod), and that it reaches the witnessed head.
 * Trusted keys and periods come from the keyring and the witness, never the database. Pure.
 */
export class AccessChainVerifier {
  private prev: Uint8Array = GENESIS_HASH;
  private expected = 1;
  private signedSeen = false;
  private witnessReached = false;
  readonly problems: { seq: number; kind: AccessProblemKind }[] = [];
  count = 0;

  /** The key ids records have named so far: once one names a key following a retired one, that key's later records are outside its period. */
  private readonly named = new Set<string>();

  /** Each tenant's trail secret, from its first v3 record among those pushed: every later one must have it. */
  readonly tenantSecrets = new Map<string, Uint8Array>();

  /**
   * `start`, a signed trail head checked before (an auditor's last witnessed head), makes
   * the chain begin after it rather than at seq 1: its signature is checked, and the
   * records pushed must chain onto its hash.
   */
  constructor(
    private readonly trusted: ReadonlyMap<string, Uint8Array> = new Map(),
    private readonly witnessed: (TrailHead & { keyId: string; signature: Uint8Array }) | null = null,
    private readonly periods: KeyPeriods = new Map(),
    start: (TrailHead & { keyId: string; signature: Uint8Array }) | null = null,
  ) {
    if (witnessed && !this.signatureValid(witnessed, witnessed.keyId, witnessed.signature)) {
      this.problems.push({ seq: witnessed.seq, kind: 'access_bad_signature' });
      this.witnessed = null;
    }
    if (start) {
      if (!this.signatureValid(start, start.keyId, start.signature)) this.problems.push({ seq: start.seq, kind: 'access_bad_signature' });
      [this.prev, this.expected, this.signedSeen] = [start.hash, start.seq + 1, true];
      // Its key had signed by then: a key retired before it signs nothing after it (recordInPeriod).
      this.named.add(start.keyId);
      if (this.witnessed && this.witnessed.seq <= start.seq) {
        this.witnessReached = true;
        if (this.witnessed.seq === start.seq && !bytesEqual(this.witnessed.hash, start.hash)) this.problems.push({ seq: start.seq, kind: 'access_witness_mismatch' });
      }
    }
  }

  /**
   * Takes the next record, in full or withheld (its digests in place of its fields); true
   * when it is the vault's own: its hash holds and a trusted key signed it.
   */
  push(r: ChainedRecord): boolean {
    this.count++;
    if (r.seq !== this.expected) this.problems.push({ seq: this.expected, kind: 'access_gap' });
    const dated = hashableTime(r.at);
    if (!dated) this.problems.push({ seq: r.seq, kind: 'access_time_invalid' });
    // A seq no JavaScript number holds exactly (past 2^53, refused since drizzle/0064) is a gap already said; it has no hash to compute.
    const hashable = dated && Number.isSafeInteger(r.seq);
    const hash = !hashable ? null : 'withheld' in r ? accessLink(this.prev, { seq: r.seq, at: r.at, ...r.withheld }) : accessHash(this.prev, r);
    const hashed = hash !== null && bytesEqual(hash, r.hash);
    if (hashable && !hashed) this.problems.push({ seq: r.seq, kind: 'access_hash_mismatch' });
    if (!('withheld' in r) && r.tenantSecret && r.tenant !== null) {
      const first = this.tenantSecrets.get(r.tenant);
      if (!first) this.tenantSecrets.set(r.tenant, r.tenantSecret);
      else if (!bytesEqual(first, r.tenantSecret)) this.problems.push({ seq: r.seq, kind: 'access_tenant_secret_changed' });
    }
    let signed = false;
    if (r.keyId && r.signature) {
      this.signedSeen = true;
      // A record whose time has no signed form was signed by no one: access_time_invalid says so.
      signed = hashable && this.signatureValid({ seq: r.seq, hash: r.hash, at: r.at }, r.keyId, r.signature);
      if (hashable && !signed) this.problems.push({ seq: r.seq, kind: 'access_bad_signature' });
      else if (signed && !recordInPeriod(r.keyId, r.at, this.periods, laterKeys(r.keyId, this.periods).some((k) => this.named.has(k)), r.storedAt ?? null)) {
        this.problems.push({ seq: r.seq, kind: 'access_outside_key_period' });
        signed = false;
      }
      this.named.add(r.keyId);
    } else if (this.signedSeen) {
      this.problems.push({ seq: r.seq, kind: 'access_unsigned' });
    }
    if (this.witnessed && r.seq === this.witnessed.seq) {
      this.witnessReached = true;
      if (!bytesEqual(r.hash, this.witnessed.hash)) this.problems.push({ seq: r.seq, kind: 'access_witness_mismatch' });
    }
    this.prev = r.hash;
    this.expected = r.seq + 1;
    return hashed && signed;
  }

  /** Every problem, including a witnessed head the trail never reached. */
  finish(): { seq: number; kind: AccessProblemKind }[] {
    if (this.witnessed && !this.witnessReached) this.problems.push({ seq: this.witnessed.seq, kind: 'access_witness_beyond_head' });
    return this.problems;
  }

  private signatureValid(h: TrailHead, keyId: string, signature: Uint8Array): boolean {
    return headSigned(h, keyId, signature, this.trusted);
  }
}

/**
 * Whether a record's time can be hashed and signed as the format writes it (milliseconds
 * since 1970 in a u64, an ISO 8601 time): the vault never dates one otherwise, and the
 * database refuses it (drizzle/0063); one stored anyway is reported, not thrown on.
 */
function hashableTime(at: Date): boolean {
  const ms = at instanceof Date ? at.getTime() : NaN;
  return Number.isSafeInteger(ms) && ms >= 0;
}

function headSigned(h: TrailHead, keyId: string, signature: Uint8Array, trusted: ReadonlyMap<string, Uint8Array>): boolean {
  const key = trusted.get(keyId);
  return key !== undefined && signature.length === 64 && verifyDetached(signature, Buffer.from(trailHeadBody(h), 'utf8'), key);
}

/**
 * Whether a stored record is the vault's own, read on its own: its hash is the hash of its
 * fields after `prev` (the stored hash of the record before it), and a trusted key signed
 * the trail head at it. A record the application role inserted has no such signature.
 */
export function recordSigned(prev: Uint8Array, r: AccessRecord & { salt?: Uint8Array | null; hash: Uint8Array; keyId: string | null; signature: Uint8Array | null } & TrailKeys, trusted: ReadonlyMap<string, Uint8Array>): boolean {
  if (!r.keyId || !r.signature || !hashableTime(r.at) || !Number.isSafeInteger(r.seq) || !bytesEqual(accessHash(prev, r), r.hash)) return false;
  return headSigned({ seq: r.seq, hash: r.hash, at: r.at }, r.keyId, r.signature, trusted);
}
