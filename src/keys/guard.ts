import { KeyError, isVaultError } from '../errors';
import type { KeyProvider } from './provider';

/**
 * A key provider of the caller's own (an HSM or KMS client, a wrapper around one) whose
 * failures all come out as the vault's errors. The contract asks a provider to throw
 * KeyError; one that throws anything else (an SDK's error, a TypeError) would otherwise
 * reach the transaction around the call and be reported as a database error, sending an
 * operator to the wrong system. Its error becomes KEY_UNAVAILABLE, naming what failed and
 * the error's code or kind, never its message (which may carry anything the SDK was
 * given); the original stays as `cause`, which is never logged or serialised.
 */
export function guardKeyProvider(provider: KeyProvider): KeyProvider {
  const guarded = async <T>(doing: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (e) {
      if (isVaultError(e)) throw e;
      throw new KeyError('KEY_UNAVAILABLE', `the key provider failed ${doing} (${kindOf(e)})`, { cause: e });
    }
  };
  return {
    get masterKeyId() {
      return provider.masterKeyId;
    },
    ...(provider.generateTenantKey
      ? { generateTenantKey: (ref) => guarded(`making key version ${ref.version} of tenant ${ref.tenant}`, () => provider.generateTenantKey!(ref)) }
      : {}),
    wrapTenantKey: (ref, key) => guarded(`wrapping key version ${ref.version} of tenant ${ref.tenant}`, () => provider.wrapTenantKey(ref, key)),
    unwrapTenantKey: (ref, masterKeyId, wrapped) =>
      guarded(`unwrapping key version ${ref.version} of tenant ${ref.tenant}`, () => provider.unwrapTenantKey(ref, masterKeyId, wrapped)),
  };
}

/** An error's code when it is a short identifier, else its class name: words an SDK chose as a label, not free text. */
function kindOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(code)) return code;
  if (e instanceof Error && /^[A-Za-z0-9_]{1,64}$/.test(e.name)) return e.name;
  return typeof e;
}
