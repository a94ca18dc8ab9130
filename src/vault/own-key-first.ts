import type { VaultDeps } from './deps';

/**
 * Checks a signature with this vault's own key first, as a rule the one that made it, and
 * only where that answer is not `enough` with every trusted key: retired ones and the
 * witness's list, which may be an S3 request away. `attempt` takes the keys to check with.
 */
export async function ownKeyFirst<T>(
  deps: Pick<VaultDeps, 'trustedKeys'>,
  own: { id: string; publicKey: Uint8Array },
  attempt: (keys: ReadonlyMap<string, Uint8Array>) => T | Promise<T>,
  enough: (answer: T) => boolean,
): Promise<T> {
  const first = await attempt(new Map([[own.id, own.publicKey]]));
  return enough(first) ? first : attempt(await deps.trustedKeys());
}
