import { createHash } from 'node:crypto';
import { InputError } from '../errors';
import type { Principal, Vault } from '../vault';
import { ServiceRefusal } from './http-errors';

/**
 * Resolves `Authorization: Bearer <token>` to a principal through the vault
 * (vault.authenticate: stored, secret matching, signed grant, not revoked or expired),
 * and remembers a success for `ttlMs`, so an append costs no extra round trip. A token
 * revoked through this service is forgotten at once; one revoked by another process (the
 * CLI) stops working within `ttlMs`. Failures are never cached; instead each client
 * address has a budget of `failuresPerMinute` failed checks, after which its requests are
 * refused (429) before any lookup, so guessing tokens costs the database nothing.
 */
export class TokenCache {
  readonly #hits = new Map<string, { principal: Principal; until: number }>();
  readonly #failures = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly vault: Vault,
    private readonly ttlMs: number,
    private readonly failuresPerMinute = 60,
    private readonly max = 10_000,
  ) {}

  async principal(authorization: string | undefined, address: string): Promise<Principal> {
    const now = Date.now();
    const f = this.#failures.get(address);
    if (f && now - f.since < 60_000 && f.count >= this.failuresPerMinute) {
      throw new ServiceRefusal('RATE_LIMITED', `too many failed token checks from this address: at most ${this.failuresPerMinute} a minute`);
    }
    try {
      return await this.check(authorization, now);
    } catch (e) {
      if (!f || now - f.since >= 60_000) {
        if (this.#failures.size >= this.max) this.#failures.clear();
        this.#failures.set(address, { count: 1, since: now });
      } else f.count += 1;
      throw e;
    }
  }

  private async check(authorization: string | undefined, now: number): Promise<Principal> {
    const m = typeof authorization === 'string' ? /^Bearer ([\x21-\x7e]{1,256})$/.exec(authorization) : null;
    if (!m) throw new InputError('UNAUTHENTICATED', 'send an API token as `Authorization: Bearer <token>`');
    // Keyed by a hash of the token, so the map holds no secret as a key.
    const key = createHash('sha256').update(m[1]!).digest('base64');
    const hit = this.#hits.get(key);
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
