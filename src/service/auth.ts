import { createHash } from 'node:crypto';
import { InputError } from '../errors';
import type { Principal, Vault } from '../vault';

/**
 * Resolves `Authorization: Bearer <token>` to a principal through the vault
 * (vault.authenticate: stored, secret matching, signed grant, not revoked or expired),
 * and remembers a success for `ttlMs`, so an append costs no extra round trip. A token
 * revoked through this service is forgotten at once; one revoked by another process (the
 * CLI) stops working within `ttlMs`. Failures are never cached.
 */
export class TokenCache {
  readonly #hits = new Map<string, { principal: Principal; until: number }>();

  constructor(
    private readonly vault: Vault,
    private readonly ttlMs: number,
    private readonly max = 10_000,
  ) {}

  async principal(authorization: string | undefined): Promise<Principal> {
    const m = typeof authorization === 'string' ? /^Bearer ([\x21-\x7e]{1,256})$/.exec(authorization) : null;
    if (!m) throw new InputError('UNAUTHENTICATED', 'send an API token as `Authorization: Bearer <token>`');
    // Keyed by a hash of the token, so the map holds no secret as a key.
    const key = createHash('sha256').update(m[1]!).digest('base64');
    const hit = this.#hits.get(key);
    const now = Date.now();
    if (hit && hit.until > now) return hit.principal;
    this.#hits.delete(key);
    const principal = await this.vault.authenticate(m[1]!);
    if (this.ttlMs > 0) {
      if (this.#hits.size >= this.max) this.#hits.clear();
      this.#hits.set(key, { principal, until: now + this.ttlMs });
    }
    return principal;
  }

  /** Forgets every cached success of one token (after it is revoked here). */
  forget(tenant: string, tokenId: string): void {
    for (const [k, v] of this.#hits) if (v.principal.tenant === tenant && v.principal.tokenId === tokenId) this.#hits.delete(k);
  }
}
