import { randomBytes, timingSafeEqual } from 'node:crypto';
import { blake2b256, bytes, frame, opt, str, u64, verifyDetached } from '../crypto';
import { signBytes, type CheckpointSigner } from '../audit/checkpoint';
import { LATEST_STORED_TIME } from '../domain';

/**
 * API tokens: what a service principal presents, and the signed grant the vault keeps.
 *
 *   token  = "svt1." base64url(tenant) "." id "." secret
 *   id     = 16 lowercase hex characters (public: names the token in lists and the access trail)
 *   secret = base64url of 32 random bytes (shown once, never stored)
 *
 * The database keeps only BLAKE2b-256("session-vault/token-secret/v1" ‖ secret): the secret
 * has 256 bits of entropy, so a fast hash suffices (no password stretching is needed).
 * The row is signed (Ed25519, the checkpoint key) over the grant: id, tenant, role,
 * label, secret hash, creation, expiry and creator. A database role, or its owner, can
 * insert or alter a row but cannot sign one: a forged or promoted token is refused.
 */
export const ROLES = ['writer', 'reader', 'operator', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const TOKEN_PREFIX = 'svt1';
/** A token id: public, 16 lowercase hex characters. */
export const TOKEN_ID_PATTERN = /^[0-9a-f]{16}$/;
const SECRET_TAG = 'session-vault/token-secret/v1';
const GRANT_TAG = 'session-vault/token-grant/v1';
const TOKEN = /^svt1\.([A-Za-z0-9_-]{1,88})\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

/** What is granted: the part of a token row that its signature covers. */
export interface TokenGrant {
  id: string;
  tenant: string;
  role: Role;
  label: string | null;
  secretHash: Uint8Array;
  createdAt: Date;
  expiresAt: Date | null;
  createdBy: string;
}

/** A token as presented, split into its parts (nothing checked against the vault yet). */
export interface PresentedToken {
  tenant: string;
  id: string;
  secret: string;
}

/** A new token: the string to hand over once, and what is stored of it. */
export function newToken(tenant: string): { token: string; id: string; secretHash: Uint8Array } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { token: `${TOKEN_PREFIX}.${Buffer.from(tenant, 'utf8').toString('base64url')}.${id}.${secret}`, id, secretHash: secretHash(secret) };
}

/** The parts of a presented token, or null if it is not shaped like one. */
export function parseToken(token: string): PresentedToken | null {
  const m = TOKEN.exec(token);
  if (!m) return null;
  return { tenant: Buffer.from(m[1]!, 'base64url').toString('utf8'), id: m[2]!, secret: m[3]! };
}

export function secretHash(secret: string): Uint8Array {
  return blake2b256(frame([str(SECRET_TAG), str(secret)]));
}

/** Whether a presented secret matches a stored hash, in time that does not depend on where they differ. */
export function secretMatches(secret: string, stored: Uint8Array): boolean {
  const h = secretHash(secret);
  return h.length === stored.length && timingSafeEqual(h, stored);
}

function grantMessage(g: TokenGrant): Uint8Array {
  return frame([
    str(GRANT_TAG),
    str(g.id),
    str(g.tenant),
    str(g.role),
    opt(g.label, str),
    bytes(g.secretHash),
    u64(g.createdAt.getTime()),
    opt(g.expiresAt === null ? null : g.expiresAt.getTime(), u64),
    str(g.createdBy),
  ]);
}

/** Signs a grant with the vault's signing key. */
export function signGrant(g: TokenGrant, signer: CheckpointSigner): { keyId: string; signature: Uint8Array } {
  return { keyId: signer.id, signature: signBytes(signer, grantMessage(g)) };
}

/** Whether `signature` by `publicKey` covers exactly this grant. */
export function grantSignedBy(g: TokenGrant, signature: Uint8Array, publicKey: Uint8Array): boolean {
  // A time the grant's form cannot hold (before 1970, or none: `infinity` stored past the database's check, drizzle/0066) is in no grant the vault signed.
  if (!grantTime(g.createdAt) || (g.expiresAt !== null && !grantTime(g.expiresAt))) return false;
  return verifyDetached(signature, grantMessage(g), publicKey);
}

function grantTime(t: Date): boolean {
  const ms = t.getTime();
  return ms >= 0 && ms < LATEST_STORED_TIME;
}
