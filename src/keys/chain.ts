import { KeyError } from '../errors';
import type { KeyProvider } from './provider';

/**
 * Several master keys at once, while tenant keys move from one to another (keyring file →
 * HSM, HSM → KMS): new wraps go to `primary`; an unwrap goes to whichever provider holds
 * the master key the tenant key names (a provider that does not answers KEY_NOT_FOUND,
 * and the next is asked). `keys rotate-master` then moves every tenant key under the primary.
 */
export function chainKeyProviders(primary: KeyProvider, ...others: KeyProvider[]): KeyProvider {
  const all = [primary, ...others];
  return {
    masterKeyId: primary.masterKeyId,
    ...(primary.generateTenantKey ? { generateTenantKey: (ref) => primary.generateTenantKey!(ref) } : {}),
    wrapTenantKey: (ref, key) => primary.wrapTenantKey(ref, key),
    async unwrapTenantKey(ref, masterKeyId, wrapped) {
      let notFound: unknown;
      for (const p of all) {
        try {
          return await p.unwrapTenantKey(ref, masterKeyId, wrapped);
        } catch (e) {
          if (e instanceof KeyError && e.code === 'KEY_NOT_FOUND') {
            notFound = e;
            continue;
          }
          throw e;
        }
      }
      throw notFound ?? new KeyError('KEY_NOT_FOUND', `no key provider holds ${masterKeyId}`);
    },
  };
}
