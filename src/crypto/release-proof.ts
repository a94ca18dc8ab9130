import { createHash, createHmac } from 'node:crypto';

/**
 * The proof the database asks for before it releases an archived session's events
 * (session_vault_release_archived, drizzle/0078_release_key.sql): HMAC-SHA-256 (RFC 2104)
 * under the vault's release key, a 32-byte key drawn by the vault and wrapped under its
 * master key. The database cannot see the archive store, so it cannot tell an archive
 * record the vault wrote after verifying its object from one a thief with the retention
 * job's database credentials inserted; the proof is what the thief cannot make without the
 * master key. The database checks it with its own SHA-256 over the key's HMAC pads (kept
 * in a table only the owner reads), so both sides compute the same bytes here.
 *
 * The message: a purpose prefix (domain separation from anything else the key might MAC),
 * then the tenant's and the session's SHA-256 (fixed lengths, so no two (tenant, session)
 * pairs run together), the head seq as 8 big-endian bytes, and the object's digest last.
 */
export const RELEASE_PROOF_PREFIX = 'session-vault/release/v1';

/** HMAC-SHA-256's block: a key up to this length is zero-padded to it. */
const BLOCK = 64;

export interface ReleaseSubject {
  tenant: string;
  session: string;
  headSeq: number;
  digest: Uint8Array;
}

/** The bytes the proof is over (pure; the database builds the same in SQL). */
export function releaseMessage(s: ReleaseSubject): Buffer {
  const head = Buffer.alloc(8);
  head.writeBigInt64BE(BigInt(s.headSeq));
  return Buffer.concat([Buffer.from(RELEASE_PROOF_PREFIX, 'utf8'), sha256(s.tenant), sha256(s.session), head, s.digest]);
}

/** The proof for one session at one head and digest, under the release key's bytes. */
export function releaseProof(key: Uint8Array, s: ReleaseSubject): Uint8Array {
  return createHmac('sha256', key).update(releaseMessage(s)).digest();
}

/**
 * The key's HMAC pads (RFC 2104: the key zero-padded to the block, XORed with 0x36 and
 * 0x5c), which the database stores instead of the key: SHA-256(outer ‖ SHA-256(inner ‖ m))
 * is the HMAC, and Postgres has sha256() but no bytea XOR. Only for keys of at most a block.
 */
export function hmacPads(key: Uint8Array): { inner: Uint8Array; outer: Uint8Array } {
  if (key.length > BLOCK) throw new RangeError('an HMAC-SHA-256 key longer than its block is hashed first; the release key is 32 bytes');
  const inner = new Uint8Array(BLOCK).fill(0x36);
  const outer = new Uint8Array(BLOCK).fill(0x5c);
  for (let i = 0; i < key.length; i++) {
    inner[i]! ^= key[i]!;
    outer[i]! ^= key[i]!;
  }
  return { inner, outer };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
