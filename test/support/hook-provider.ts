import { KeyError } from '../../src/errors';
import type { KeyProvider } from '../../src/keys';

/**
 * A key provider that does `meanwhile` on the first unwrap it is asked for, then declines
 * (KEY_NOT_FOUND), so that the keyring behind it (a vault with a provider of its own keeps
 * its keyring's master keys as a fallback) answers. A deterministic point inside a
 * vault's operation, between reading what it checks and writing what it decided: the
 * operation goes on as if nothing had happened, and meets what `meanwhile` changed.
 * `seen.fired` tells the test that the point was reached.
 */
export function hookProvider(meanwhile: () => Promise<unknown>): { provider: KeyProvider; seen: { fired: boolean } } {
  const seen = { fired: false };
  const provider: KeyProvider = {
    masterKeyId: 'test:declines',
    wrapTenantKey: () => Promise.reject(new KeyError('KEY_NOT_FOUND', 'this provider wraps nothing')),
    async unwrapTenantKey() {
      if (!seen.fired) {
        seen.fired = true;
        await meanwhile();
      }
      throw new KeyError('KEY_NOT_FOUND', 'not one of this provider’s keys');
    },
  };
  return { provider, seen };
}
