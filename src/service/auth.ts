import { createHash } from 'node:crypto';
import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';
import { InputError } from '../errors';
import type { Principal, Vault } from '../vault';
import { ServiceRefusal } from './http-errors';

/**
 * Resolves `Authorization: Bearer <token>` to a principal through the vault
 * (vault.authenticate: stored, secret matching, signed grant, not revoked or expired),
 * and remembers a success for `ttlMs`, so an append costs no extra round trip. A token
 * revoked through this service is forgotten at once; one revoked by another process (the
 * CLI) stops working within `ttlMs`. Failures are never cached; instead each client (its
 * address, an IPv6 one by its /64: clientKey) has a budget of `failuresPerMinute` failed
 * checks, after which its requests are refused (429) before any lookup, so guessing
 * tokens costs the database nothing. A token
 * that passed a check within `PROVEN_MS` is checked even then (a lookup as usual): an
 * address is often shared (a load balancer, a proxy, a NAT), and whoever spends its budget
 * with guesses must not lock out the agents behind it, which cannot present a token they
 * do not hold.
 */
export class TokenCache {
  readonly #hits = new Map<string, { principal: Principal; until: number }>();
  readonly #failures = new Map<string, { count: number; since: number }>();
  /** Tokens (by hash) that passed a check lately, and until when that lets them past an address's spent budget. */
  readonly #proven = new Map<string, number>();

  constructor(
    private readonly vault: Vault,
    private readonly ttlMs: number,
    private readonly failuresPerMinute = 60,
    private readonly max = 10_000,
  ) {}

  async principal(authorization: string | undefined, remote: string): Promise<Principal> {
    const now = Date.now();
    const address = clientKey(remote);
    const f = this.#failures.get(address);
    const key = tokenKey(authorization);
    if (f && now - f.since < 60_000 && f.count >= this.failuresPerMinute && !((this.#proven.get(key ?? '') ?? 0) > now)) {
      throw new ServiceRefusal('RATE_LIMITED', `too many failed token checks from this address: at most ${this.failuresPerMinute} a minute`);
    }
    try {
      const principal = await this.check(key, authorization, now);
      if (this.#proven.size >= this.max) this.#proven.clear();
      this.#proven.set(key!, now + PROVEN_MS);
      return principal;
    } catch (e) {
      if (key !== null) this.#proven.delete(key);
      if (!f || now - f.since >= 60_000) {
        if (this.#failures.size >= this.max) this.#failures.clear();
        this.#failures.set(address, { count: 1, since: now });
      } else f.count += 1;
      throw e;
    }
  }

  private async check(key: string | null, authorization: string | undefined, now: number): Promise<Principal> {
    if (key === null) throw new InputError('UNAUTHENTICATED', 'send an API token as `Authorization: Bearer <token>`');
    const hit = this.#hits.get(key);
    if (hit && hit.until > now) return hit.principal;
    this.#hits.delete(key);
    const principal = await this.vault.authenticate(bearer(authorization)!);
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

/**
 * The client an address counts as, for the failure budget and the rate limit: an IPv4
 * address itself (also when written IPv4-mapped, `::ffff:a.b.c.d`); an IPv6 address by its
 * first 64 bits, the least a connection is handed (a home line, a cloud host), so that its
 * 2^64 addresses are one client and not a new budget each. Anything else as it is. Pure.
 */
export function clientKey(address: string): string {
  if (isIPv4(address)) return address; // the common case, without parsing (about a microsecond a request)
  if (!ipaddr.isValid(address)) return address;
  let ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  if (ip.kind() === 'ipv4') return ip.toString();
  return `${Buffer.from(ip.toByteArray().slice(0, 8)).toString('hex')}/64`;
}

/** How long a token that passed a check may still be checked from an address whose failure budget is spent. */
export const PROVEN_MS = 15 * 60_000;

function bearer(authorization: string | undefined): string | null {
  const m = typeof authorization === 'string' ? /^Bearer ([\x21-\x7e]{1,256})$/.exec(authorization) : null;
  return m ? m[1]! : null;
}

/** A token's key in the caches: a hash of it, so that no map holds a secret as a key; null when no token is presented. */
function tokenKey(authorization: string | undefined): string | null {
  const token = bearer(authorization);
  return token === null ? null : createHash('sha256').update(token).digest('base64');
}
