import { z } from 'zod';
import { STORED_EVENT_TYPES, type StoredEvent, type VaultEvent } from '../domain';
import { blake2b256Stream, bytesEqual, exposeSecretBytes, frame, fromHex, signingKeyId, str, toHex, SecretBytes, verifyDetached } from '../crypto';
import { ChainVerifier, openEvent } from '../events';
import { replay, type AgentState } from '../replay';
import { canonicalJson, canonicalPieces, jsonValue } from './canonical';
import { noteKeyHash, signNote, verifyCheckpoint, type CheckpointSigner } from './checkpoint';
import { checkpointTimeProblem, KEY_PERIOD_GRACE_MS, type KeyPeriods } from './key-period';
import { unsignedTail, type SignedHead } from './head-check';

/**
 * The auditor bundle (docs/export-format.md): one self-contained JSON document holding a
 * session's events exactly as stored, its signed checkpoints, the public keys to check
 * them, a signed manifest of counts and section digests, and — only when exported with
 * --decrypt — the plaintext events, each event's own key (so an auditor can re-open
 * every ciphertext and see that the plaintext is what was sealed, and no key in the
 * bundle opens an event appended after it), and replayed states. Sessions with legacy
 * (seal v1) events disclose the data key instead for those: docs/export-format.md.
 */
export const BUNDLE_FORMAT = 'session-vault-bundle/v1';
export const SECTION_TAG = 'session-vault/bundle-section/v1';
export const MANIFEST_ORIGIN = 'session-vault/bundle/v1';

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64');
const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 hex digits');
const nat = z.number().int().nonnegative();

export const bundleEvent = z.strictObject({
  seq: z.number().int().positive(),
  type: z.enum(STORED_EVENT_TYPES),
  at: z.iso.datetime(),
  correlationId: z.string(),
  idempotencyKey: z.string().nullable(),
  tool: z.string().nullable(),
  promptTokens: nat.nullable(),
  completionTokens: nat.nullable(),
  costUsd: z.number().nullable(),
  durationMs: nat.nullable(),
  keyVersion: nat,
  nonce: b64,
  ciphertext: b64,
  hash: hex32,
});

const replayPoint = z.union([z.strictObject({ atSeq: nat }), z.strictObject({ at: z.iso.datetime() }), z.literal('latest')]);

export const manifestSchema = z.strictObject({
  tenant: z.string().min(1),
  session: z.string().min(1),
  agent: z.string().nullable(),
  exportedAt: z.iso.datetime(),
  events: nat,
  firstSeq: nat,
  lastSeq: nat,
  head: hex32.nullable(),
  checkpoints: nat,
  decrypted: z.boolean(),
  /** What `verify` found wrong with this session in the vault when it was exported (empty: nothing). Absent in older bundles. */
  sourceProblems: z.array(z.strictObject({ seq: nat, kind: z.string().min(1) })).optional(),
  digests: z.strictObject({
    events: hex32,
    checkpoints: hex32,
    publicKeys: hex32,
    plaintext: hex32.nullable(),
    states: hex32.nullable(),
  }),
});

export const bundleSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  manifest: manifestSchema,
  manifestSignature: z.string().min(1),
  publicKeys: z.array(z.strictObject({ id: z.string().min(1), publicKey: b64 })).min(1),
  events: z.array(bundleEvent),
  checkpoints: z.array(z.string()),
  plaintext: z
    .strictObject({
      /** Only for legacy (seal v1) events, which have no key of their own. */
      dataKey: b64.optional(),
      /** Each v2 event's own key, which opens that event and nothing else. */
      eventKeys: z.array(z.strictObject({ seq: nat, key: b64 })).optional(),
      events: z.array(z.strictObject({ seq: nat, type: z.enum(STORED_EVENT_TYPES), correlationId: z.string(), at: z.iso.datetime(), data: z.record(z.string(), z.unknown()) })),
    })
    .nullable(),
  states: z.array(z.strictObject({ point: replayPoint, state: z.record(z.string(), z.unknown()) })).nullable(),
});

export type Bundle = z.infer<typeof bundleSchema>;
export type BundleEvent = z.infer<typeof bundleEvent>;
export type ReplayPointSpec = z.infer<typeof replayPoint>;
export type PlaintextEvent = NonNullable<Bundle['plaintext']>['events'][number];

/**
 * BLAKE2b-256 of a section: tag, section name, canonical JSON as framed `bytes` (u32
 * length ‖ UTF-8). The JSON is written piece by piece (canonicalPieces): measured in a
 * first pass, then encoded into a 64 KB buffer that is hashed each time it fills. The
 * events of 10,000 events are 17 MB of it, never held as one string or one buffer. The
 * same bytes as `bytes(canonicalJson(value))`.
 */
export function sectionDigest(name: string, value: unknown): string {
  let size = 0;
  for (const piece of canonicalPieces(value)) size += Buffer.byteLength(piece, 'utf8');
  const hash = blake2b256Stream();
  hash.update(frame([str(SECTION_TAG), str(name)]));
  const buf = Buffer.allocUnsafe(HASH_CHUNK); // only the bytes written are hashed
  buf.writeUInt32BE(size, 0);
  let at = 4;
  for (const piece of canonicalPieces(value)) {
    const bytes = Buffer.byteLength(piece, 'utf8');
    if (at + bytes > HASH_CHUNK) {
      hash.update(buf.subarray(0, at));
      at = 0;
    }
    if (bytes > HASH_CHUNK) hash.update(Buffer.from(piece, 'utf8')); // a large string of a state, say
    else at += buf.write(piece, at, 'utf8');
  }
  hash.update(buf.subarray(0, at));
  return toHex(hash.final());
}

const HASH_CHUNK = 1 << 16;

/** The signed body of a manifest: origin, tenant/session, manifest digest. */
export function manifestBody(manifest: Bundle['manifest']): string {
  return `${MANIFEST_ORIGIN}\n${manifest.tenant}/${manifest.session}\n${sectionDigest('manifest', manifest)}\n`;
}

export function toBundleEvent(e: StoredEvent): BundleEvent {
  return {
    seq: e.seq,
    type: e.type,
    at: e.at.toISOString(),
    correlationId: e.correlationId,
    idempotencyKey: e.idempotencyKey,
    tool: e.tool,
    promptTokens: e.promptTokens,
    completionTokens: e.completionTokens,
    costUsd: e.costUsd,
    durationMs: e.durationMs,
    keyVersion: e.keyVersion,
    nonce: base64Of(e.nonce),
    ciphertext: base64Of(e.ciphertext),
    hash: toHex(e.hash),
  };
}

/** Base64 of the bytes where they are (a copy of each ciphertext first was a megabyte of garbage a thousand events). */
function base64Of(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

export function fromBundleEvent(tenant: string, session: string, e: BundleEvent): StoredEvent {
  return {
    ...e,
    tenant,
    session,
    at: new Date(e.at),
    nonce: new Uint8Array(Buffer.from(e.nonce, 'base64')),
    ciphertext: new Uint8Array(Buffer.from(e.ciphertext, 'base64')),
    hash: fromHex(e.hash),
  };
}

export interface BundleInput {
  tenant: string;
  session: string;
  agent: string | null;
  exportedAt: Date;
  /** The events as stored, in their bundle form (toBundleEvent): converted as they are read, never held twice. */
  events: BundleEvent[];
  checkpoints: string[];
  publicKeys: ReadonlyMap<string, Uint8Array>;
  plaintext: { dataKey: SecretBytes | null; eventKeys: { seq: number; key: SecretBytes }[]; events: PlaintextEvent[] } | null;
  states: { point: ReplayPointSpec; state: AgentState }[] | null;
  /** The session's problems as the vault's verify saw them at export; marked in the signed manifest. */
  sourceProblems: { seq: number; kind: string }[];
}

/**
 * Assembles and signs a bundle. Pure but for the signature. With plaintext, the session's
 * data key is disclosed in the bundle — deliberately: it lets the auditor prove the
 * plaintext is what was sealed, and it opens nothing but this session, whose plaintext
 * the bundle already holds.
 */
export function buildBundle(input: BundleInput, signer: CheckpointSigner): Bundle {
  const events = input.events;
  const publicKeys = [...input.publicKeys].map(([id, k]) => ({ id, publicKey: Buffer.from(k).toString('base64') }));
  const plaintext = input.plaintext
    ? {
        ...(input.plaintext.dataKey ? { dataKey: Buffer.from(exposeSecretBytes(input.plaintext.dataKey)).toString('base64') } : {}),
        eventKeys: input.plaintext.eventKeys.map((k) => ({ seq: k.seq, key: Buffer.from(exposeSecretBytes(k.key)).toString('base64') })),
        events: input.plaintext.events,
      }
    : null;
  const states = input.states ? (jsonValue(input.states) as NonNullable<Bundle['states']>) : null;
  const last = events[events.length - 1];
  const manifest: Bundle['manifest'] = {
    tenant: input.tenant,
    session: input.session,
    agent: input.agent,
    exportedAt: input.exportedAt.toISOString(),
    events: events.length,
    firstSeq: events[0]?.seq ?? 0,
    lastSeq: last?.seq ?? 0,
    head: last?.hash ?? null,
    checkpoints: input.checkpoints.length,
    decrypted: plaintext !== null,
    sourceProblems: input.sourceProblems.map((p) => ({ seq: p.seq, kind: p.kind })),
    digests: {
      events: sectionDigest('events', events),
      checkpoints: sectionDigest('checkpoints', input.checkpoints),
      publicKeys: sectionDigest('publicKeys', publicKeys),
      plaintext: plaintext ? sectionDigest('plaintext', plaintext) : null,
      states: states ? sectionDigest('states', states) : null,
    },
  };
  const body = manifestBody(manifest);
  const manifestSignature = signNote(body, signer);
  return { format: BUNDLE_FORMAT, manifest, manifestSignature, publicKeys, events, checkpoints: input.checkpoints, plaintext, states };
}

/** One problem verify-bundle found. */
export interface BundleProblem {
  kind: string;
  seq?: number;
  detail: string;
}

export interface BundleReport {
  ok: boolean;
  tenant: string | null;
  session: string | null;
  events: number;
  checkpoints: number;
  /** Key ids whose signatures were checked: compare them with keys you obtained out of band. */
  signedBy: string[];
  /**
   * Whether signing keys were held to their periods: only with pinned keys that state
   * them. Otherwise a retired key's signature counts whenever it was made (a leaked secret
   * half's too), as far as a bundle alone can tell.
   */
  periodsChecked: boolean;
  decrypted: boolean;
  problems: BundleProblem[];
}

/**
 * The auditor's own copy of the vault's public keys, pinned whole, obtained out of band
 * (the witness's `public-keys.json`: audit/public-keys.ts), with the periods it states,
 * and when the auditor received the bundle (default: now).
 */
export interface PinnedKeys {
  keys: ReadonlyMap<string, Uint8Array>;
  periods?: KeyPeriods;
  receivedAt?: Date;
}

/**
 * Verifies a bundle offline: no database, no keyring. `trusted`, when given, restricts
 * which of the bundle's public keys may vouch for it: the auditor's own copy of the
 * vault's key ids, or of its public keys whole (a bundle key counts only if it is that
 * very key). Otherwise the bundle's keys are used and reported in `signedBy`, for the
 * auditor to compare. Either way a key must be under its own id (its fingerprint).
 * With pinned keys' periods, a key retired before the bundle was received vouches for no
 * manifest (`manifest_key_retired`: a signature carries no time the signer did not choose,
 * so one by a retired key may be its leaked secret half's), and a checkpoint it signed
 * dated after its retirement counts for nothing (`checkpoint_outside_key_period`).
 */
export async function verifyBundle(json: unknown, trusted?: readonly string[] | PinnedKeys): Promise<BundleReport> {
  const report: BundleReport = { ok: false, tenant: null, session: null, events: 0, checkpoints: 0, signedBy: [], periodsChecked: false, decrypted: false, problems: [] };
  const problem = (kind: string, detail: string, seq?: number) => report.problems.push(seq === undefined ? { kind, detail } : { kind, seq, detail });
  const parsed = bundleSchema.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    problem('malformed_bundle', `${i.path.join('.') || '(root)'}: ${i.message}`);
    return report;
  }
  const b = parsed.data;
  const m = b.manifest;
  Object.assign(report, { tenant: m.tenant, session: m.session, events: b.events.length, checkpoints: b.checkpoints.length, decrypted: b.plaintext !== null });

  // Keys: the bundle's, restricted to the auditor's trusted ones when given. An id is the
  // fingerprint of its key (signingKeyId): a key under another key's id is anyone's key
  // passed off as the vault's, and vouches for nothing.
  const pinned = trusted && !isIdList(trusted) ? trusted : null;
  const periods: KeyPeriods = pinned?.periods ?? new Map();
  report.periodsChecked = periods.size > 0;
  const keys = new Map<string, Uint8Array>();
  for (const k of b.publicKeys) {
    const publicKey = new Uint8Array(Buffer.from(k.publicKey, 'base64'));
    const pin = pinned?.keys.get(k.id);
    if (publicKey.length !== 32 || signingKeyId(publicKey) !== k.id) problem('key_id_mismatch', `the public key given for ${k.id} is not the key that id names`);
    else if (pin && !bytesEqual(pin, publicKey)) problem('key_id_mismatch', `the public key given for ${k.id} is not the one trusted under that id`);
    else if (!trusted || (pinned ? pin : (trusted as readonly string[]).includes(k.id))) keys.set(k.id, publicKey);
  }
  if (keys.size === 0) problem('untrusted_key', 'none of the bundle’s public keys is trusted');

  // Manifest: signature, counts, digests.
  const signedBy = verifyManifestSignature(b, keys);
  if (signedBy) report.signedBy.push(signedBy);
  else problem('bad_manifest_signature', 'the manifest is not signed by a trusted key');
  const retiredAt = signedBy ? periods.get(signedBy)?.until : null;
  const receivedAt = pinned?.receivedAt ?? new Date();
  if (retiredAt && receivedAt.getTime() > retiredAt.getTime() + KEY_PERIOD_GRACE_MS) {
    problem('manifest_key_retired', `the manifest is signed by ${signedBy}, retired at ${retiredAt.toISOString()}, before the bundle was received (${receivedAt.toISOString()})`);
  }
  const last = b.events[b.events.length - 1];
  if (m.events !== b.events.length) problem('manifest_mismatch', `manifest says ${m.events} events, bundle holds ${b.events.length}`);
  if (m.checkpoints !== b.checkpoints.length) problem('manifest_mismatch', `manifest says ${m.checkpoints} checkpoints, bundle holds ${b.checkpoints.length}`);
  if (m.firstSeq !== (b.events[0]?.seq ?? 0) || m.lastSeq !== (last?.seq ?? 0)) problem('manifest_mismatch', 'manifest seq range does not match the events');
  if (m.head !== (last?.hash ?? null)) problem('manifest_mismatch', 'manifest head is not the last event’s hash');
  if (m.decrypted !== (b.plaintext !== null)) problem('manifest_mismatch', 'manifest decrypted flag does not match the bundle');
  for (const p of m.sourceProblems ?? []) problem('source_problem', `the vault's verify found ${p.kind} in this session when it was exported`, p.seq);
  const sections: [keyof typeof m.digests, unknown][] = [
    ['events', b.events],
    ['checkpoints', b.checkpoints],
    ['publicKeys', b.publicKeys],
    ['plaintext', b.plaintext],
    ['states', b.states],
  ];
  for (const [name, value] of sections) {
    const expected = m.digests[name];
    const actual = value === null ? null : sectionDigest(name, value);
    if (expected !== actual) problem('digest_mismatch', `section ${name} does not match its manifest digest`);
  }

  // Chain: every hash, gapless from 1, no foreign rows.
  const stored = b.events.map((e) => fromBundleEvent(m.tenant, m.session, e));
  const chain = new ChainVerifier(m.tenant, m.session);
  for (const e of stored) chain.push(e);
  if (stored.length > 0 && stored[0]!.seq !== 1) problem('gap', 'the chain does not start at seq 1', 1);
  for (const p of chain.finish({ seq: last?.seq ?? 0, hash: stored[stored.length - 1]?.hash ?? null })) {
    if (p.kind !== 'head_mismatch' && p.kind !== 'missing_tail') problem(p.kind, `event ${p.seq}: ${p.kind.replace('_', ' ')}`, p.seq);
  }

  // Checkpoints: signatures, origin, and that the chain passes through each.
  const bySeq = new Map(stored.map((e) => [e.seq, e]));
  const signed: SignedHead[] = []; // the valid checkpoints of this chain
  for (const note of b.checkpoints) {
    const v = verifyCheckpoint(note, keys);
    if (typeof v === 'string') {
      problem(v, 'a checkpoint does not verify');
      continue;
    }
    const c = v.checkpoint;
    if (!report.signedBy.includes(v.keyId)) report.signedBy.push(v.keyId);
    if (c.tenant !== m.tenant || c.session !== m.session) problem('foreign_checkpoint', `checkpoint of ${c.tenant}/${c.session}`, c.seq);
    else if (!bySeq.has(c.seq)) problem('checkpoint_beyond_head', `checkpoint at seq ${c.seq} is past the last event`, c.seq);
    else if (!bytesEqual(bySeq.get(c.seq)!.hash, c.hash)) problem('checkpoint_mismatch', `event ${c.seq} does not have the signed hash`, c.seq);
    else {
      // Signed after its key's retirement, or dated before the event it signs (a retired
      // key's, dated back into its period): key-period.ts. A bundle carries no storage times.
      const late = checkpointTimeProblem(v, periods, bySeq.get(c.seq)!.at, null);
      if (late === 'outside_key_period') problem('checkpoint_outside_key_period', `the checkpoint at seq ${c.seq} is signed by ${v.keyId} after its retirement`, c.seq);
      else if (late === 'before_event') problem('checkpoint_before_event', `the checkpoint at seq ${c.seq} is dated before the event it signs`, c.seq);
      else signed.push({ seq: c.seq, hash: c.hash, source: 'checkpoint' });
    }
  }
  const lastSeq = stored[stored.length - 1]?.seq ?? 0;
  // Events past the last signed head: nothing here vouches for them but the exporter's
  // word (its manifest). The same rule as the vault's own verify (head-check.ts); a bundle
  // with checkpoints comes from a vault that signs.
  const unsigned = b.checkpoints.length > 0 ? unsignedTail(signed, lastSeq, true) : null;
  if (b.events.length > 0 && b.checkpoints.length === 0) problem('no_checkpoint', 'no signed checkpoint covers the chain');
  else if (unsigned !== null) problem('unsigned_tail', `events ${unsigned}..${lastSeq} follow the last signed checkpoint: no signature covers them`, unsigned);

  // Plaintext: re-open every ciphertext with the disclosed data key and compare.
  if (b.plaintext) checkPlaintext(b, stored, problem);
  if (b.states) await checkStates(b, problem);

  report.ok = report.problems.length === 0;
  return report;
}

function verifyManifestSignature(b: Bundle, keys: ReadonlyMap<string, Uint8Array>): string | null {
  const body = manifestBody(b.manifest);
  if (!b.manifestSignature.startsWith(`${body}\n`)) return null;
  for (const line of b.manifestSignature.slice(body.length + 1).split('\n').filter((l) => l !== '')) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$/.exec(line);
    const key = m ? keys.get(m[1]!) : undefined;
    if (!m || !key) continue;
    const blob = Buffer.from(m[2]!, 'base64');
    if (blob.length === 68 && noteKeyHash(m[1]!, key).equals(blob.subarray(0, 4)) && verifyDetached(blob.subarray(4), Buffer.from(body, 'utf8'), key)) return m[1]!;
  }
  return null;
}

function checkPlaintext(b: Bundle, stored: StoredEvent[], problem: (kind: string, detail: string, seq?: number) => void): void {
  const p = b.plaintext!;
  const secret = (k: string) => SecretBytes.adopt(new Uint8Array(Buffer.from(k, 'base64')));
  const dataKey = p.dataKey !== undefined ? secret(p.dataKey) : null;
  const eventKeys = new Map((p.eventKeys ?? []).map((k) => [k.seq, secret(k.key)]));
  try {
    if (p.events.length !== stored.length) problem('plaintext_mismatch', `${p.events.length} plaintext events for ${stored.length} sealed events`);
    const plainBySeq = new Map(p.events.map((e) => [e.seq, e]));
    for (const e of stored) {
      const plain = plainBySeq.get(e.seq);
      if (!plain) {
        problem('plaintext_mismatch', `event ${e.seq} has no plaintext`, e.seq);
        continue;
      }
      let opened;
      try {
        const own = eventKeys.get(e.seq);
        if (own) opened = openEvent(e, { eventKey: own });
        else if (dataKey || e.keyVersion === 0) opened = openEvent(e, dataKey ?? SecretBytes.adopt(new Uint8Array(32)));
        else throw new Error('no key');
      } catch {
        problem('plaintext_mismatch', `event ${e.seq} does not open with the key the bundle discloses for it`, e.seq);
        continue;
      }
      const sealed = canonicalJson({ seq: opened.seq, type: opened.type, correlationId: opened.correlationId, at: opened.at.toISOString(), data: opened.data });
      if (sealed !== canonicalJson(plain)) problem('plaintext_mismatch', `event ${e.seq}: plaintext differs from what was sealed`, e.seq);
    }
  } finally {
    dataKey?.dispose();
    for (const k of eventKeys.values()) k.dispose();
  }
}

async function checkStates(b: Bundle, problem: (kind: string, detail: string, seq?: number) => void): Promise<void> {
  if (!b.plaintext) {
    problem('state_mismatch', 'replayed states need the plaintext events');
    return;
  }
  const hashes = new Map(b.events.map((e) => [e.seq, e.hash]));
  const events: VaultEvent[] = b.plaintext.events.map((e) => ({ ...e, at: new Date(e.at), hash: hashes.get(e.seq) ?? '' }));
  for (const s of b.states!) {
    const point = s.point === 'latest' ? {} : 'atSeq' in s.point ? { atSeq: s.point.atSeq } : { at: new Date(s.point.at) };
    const state = await replay({ tenant: b.manifest.tenant, session: b.manifest.session, agent: b.manifest.agent }, events, point);
    if (canonicalJson(state) !== canonicalJson(s.state)) problem('state_mismatch', `the state at ${JSON.stringify(s.point)} is not the replay of the plaintext`);
  }
}

function isIdList(trusted: readonly string[] | PinnedKeys): trusted is readonly string[] {
  return Array.isArray(trusted);
}
