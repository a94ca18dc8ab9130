import { createHash } from 'node:crypto';
import { IntegrityError } from '../errors';
import { SecretBytes, signDetached, verifyDetached } from '../crypto';

/**
 * Signed checkpoints: a session's chain head (seq, hash, time), signed with the vault's
 * Ed25519 key, as a C2SP signed note (https://c2sp.org/signed-note), whose body follows
 * the C2SP checkpoint layout (https://c2sp.org/tlog-checkpoint):
 *
 *   session-vault/v1/<tenant>/<session>      origin: which chain
 *   <seq>                                    how many events the chain has
 *   <base64 of the 32-byte head hash>        the hash of event <seq>
 *   time <ISO 8601 UTC, milliseconds>        extension line: when it was signed
 *   (blank line)
 *   — <key name> <base64(key hash[4] ‖ Ed25519 signature[64])>
 *
 * The signature covers the body (every line up to and including its final newline).
 * The key name is the keyring's signing key id (`ed25519:…`); the 4-byte key hash is
 * SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[0..4], 0x01 being signed-note's Ed25519 type.
 * Anyone holding the public key verifies a checkpoint with nothing else.
 */
export const CHECKPOINT_ORIGIN_PREFIX = 'session-vault/v1/';

export interface Checkpoint {
  tenant: string;
  session: string;
  seq: number;
  hash: Uint8Array;
  time: Date;
}

/**
 * A signing key: its name (id), public key, and either its secret key, held by this
 * process (the keyring file, VAULT_SIGNING_KEY), or a function that signs with a key the
 * process never sees (an HSM: keys/pkcs11-signer.ts). Either way an Ed25519 signature.
 */
export type CheckpointSigner = { id: string; publicKey: Uint8Array } & (
  | { secretKey: SecretBytes; sign?: never }
  | { sign(message: Uint8Array): Uint8Array; secretKey?: never }
);

/** The 64-byte Ed25519 signature of `message` by the signer's key. */
export function signBytes(signer: CheckpointSigner, message: Uint8Array): Uint8Array {
  return signer.sign ? signer.sign(message) : signDetached(message, signer.secretKey);
}

export function origin(tenant: string, session: string): string {
  return `${CHECKPOINT_ORIGIN_PREFIX}${tenant}/${session}`;
}

/** The signed body of a checkpoint. */
export function checkpointBody(c: Checkpoint): string {
  return `${origin(c.tenant, c.session)}\n${c.seq}\n${Buffer.from(c.hash).toString('base64')}\ntime ${c.time.toISOString()}\n`;
}

/** Key hashes already computed, by public key (the same array for every append a key signs) and name. */
const keyHashes = new WeakMap<Uint8Array, Map<string, Buffer>>();

/** The 4-byte signed-note key hash of an Ed25519 key (computed once per key and name: every append's checkpoint needs it). */
export function noteKeyHash(name: string, publicKey: Uint8Array): Buffer {
  let byName = keyHashes.get(publicKey);
  if (!byName) keyHashes.set(publicKey, (byName = new Map()));
  let hash = byName.get(name);
  if (!hash) {
    hash = createHash('sha256')
      .update(Buffer.concat([Buffer.from(name, 'utf8'), Buffer.from([0x0a, 0x01]), Buffer.from(publicKey)]))
      .digest()
      .subarray(0, 4);
    byName.set(name, hash);
  }
  return Buffer.from(hash); // a copy: the cached one must not be changed by a caller
}

/** Signs a checkpoint; returns the whole note (body, blank line, signature line). */
export function signCheckpoint(c: Checkpoint, signer: CheckpointSigner): string {
  return signNote(checkpointBody(c), signer);
}

/** Signs any note body (a session checkpoint, the access trail's head): body, blank line, signature line. */
export function signNote(body: string, signer: CheckpointSigner): string {
  return noteWith(body, signer, signBytes(signer, Buffer.from(body, 'utf8')));
}

/** A note from its body and the signer's signature of it. */
export function noteWith(body: string, signer: CheckpointSigner, sig: Uint8Array): string {
  const blob = Buffer.concat([noteKeyHash(signer.id, signer.publicKey), Buffer.from(sig)]).toString('base64');
  return `${body}\n\u2014 ${signer.id} ${blob}\n`;
}

/** A note split into its body and signature lines, or null if it is not a signed note. */
export function splitNote(note: string): { body: string; signatures: { name: string; blob: Buffer }[] } | null {
  const split = note.indexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) return null;
  const signatures: { name: string; blob: Buffer }[] = [];
  for (const line of note.slice(split + 2, -1).split('\n')) {
    const s = SIG_LINE.exec(line);
    if (!s) return null;
    signatures.push({ name: s[1]!, blob: Buffer.from(s[2]!, 'base64') });
  }
  return signatures.length === 0 ? null : { body: note.slice(0, split + 1), signatures };
}

/** Which trusted key signed a note's body, or why none did. Pure. */
export function verifyNoteSignatures(body: string, signatures: readonly { name: string; blob: Buffer }[], trusted: ReadonlyMap<string, Uint8Array>): { keyId: string } | 'untrusted_checkpoint_key' | 'bad_checkpoint_signature' {
  let sawTrusted = false;
  for (const s of signatures) {
    const key = trusted.get(s.name);
    if (!key) continue;
    sawTrusted = true;
    if (s.blob.length !== 68 || !noteKeyHash(s.name, key).equals(s.blob.subarray(0, 4))) continue;
    if (verifyDetached(s.blob.subarray(4), Buffer.from(body, 'utf8'), key)) return { keyId: s.name };
  }
  return sawTrusted ? 'bad_checkpoint_signature' : 'untrusted_checkpoint_key';
}

/** Why a note is not a valid checkpoint. */
export type CheckpointProblem = 'malformed_checkpoint' | 'untrusted_checkpoint_key' | 'bad_checkpoint_signature';

export interface VerifiedCheckpoint {
  checkpoint: Checkpoint;
  keyId: string;
}

const BODY = /^session-vault\/v1\/([a-z0-9][a-z0-9._-]{0,62})\/([A-Za-z0-9][A-Za-z0-9._:-]{0,127})\n(0|[1-9]\d{0,15})\n([A-Za-z0-9+/]{43}=)\ntime (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\n$/;
const SIG_LINE = /^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$/;

/** Parses a note's body into a checkpoint, or null if it is not one. */
export function parseCheckpoint(note: string): { checkpoint: Checkpoint; body: string; signatures: { name: string; blob: Buffer }[] } | null {
  const split = splitNote(note);
  if (!split) return null;
  const { body, signatures } = split;
  const m = BODY.exec(body);
  if (!m) return null;
  const time = new Date(m[5]!);
  if (Number.isNaN(time.getTime()) || time.toISOString() !== m[5]) return null;
  const checkpoint = { tenant: m[1]!, session: m[2]!, seq: Number(m[3]), hash: new Uint8Array(Buffer.from(m[4]!, 'base64')), time };
  return { checkpoint, body, signatures };
}

/**
 * Verifies a checkpoint note against trusted public keys (key id → public key). Accepts
 * when any signature line is a valid signature by a trusted key; otherwise names the
 * problem. Pure.
 */
export function verifyCheckpoint(note: string, trusted: ReadonlyMap<string, Uint8Array>): VerifiedCheckpoint | CheckpointProblem {
  const parsed = parseCheckpoint(note);
  if (!parsed) return 'malformed_checkpoint';
  const v = verifyNoteSignatures(parsed.body, parsed.signatures, trusted);
  return typeof v === 'string' ? v : { checkpoint: parsed.checkpoint, keyId: v.keyId };
}

/** Like verifyCheckpoint, but throws IntegrityError(CHAIN_BROKEN) naming the problem. */
export function requireCheckpoint(note: string, trusted: ReadonlyMap<string, Uint8Array>): VerifiedCheckpoint {
  const r = verifyCheckpoint(note, trusted);
  if (typeof r === 'string') throw new IntegrityError('CHAIN_BROKEN', `checkpoint rejected: ${r}`);
  return r;
}
