import { InputError } from '../errors';

/**
 * The tenant key lifecycle, a small state machine (pure):
 *
 *   primary ──rotate──▶ active ──retire──▶ retired ──destroy──▶ destroyed
 *
 * - `rotate` creates a new version as primary; the old primary becomes active (it still
 *   unwraps the session keys it wrapped until `rewrap` moves them).
 * - `retire` is refused for the primary and while any session key is still wrapped by the
 *   version; `destroy` only follows `retire` (the wrapped key is deleted).
 * - Nothing ever becomes primary again once retired or destroyed; only rotate makes a primary.
 * Refusals are InputError(KEY_STATE) and change nothing.
 */
export type TenantKeyState = 'primary' | 'active' | 'retired' | 'destroyed';

export function assertCanRetire(version: number, state: TenantKeyState, sessionsWrapped: number): void {
  if (state === 'primary') throw new InputError('KEY_STATE', `key version ${version} is primary; rotate first, then rewrap, then retire it`);
  if (state !== 'active') throw new InputError('KEY_STATE', `key version ${version} is ${state}; only an active version can be retired`);
  if (sessionsWrapped > 0) {
    throw new InputError('KEY_STATE', `key version ${version} still protects ${sessionsWrapped} session key(s); run \`keys rewrap\` first`);
  }
}

export function assertCanDestroy(version: number, state: TenantKeyState): void {
  if (state !== 'retired') throw new InputError('KEY_STATE', `key version ${version} is ${state}; only a retired version can be destroyed`);
}

export function assertCanBecomePrimary(version: number, state: TenantKeyState): void {
  if (state === 'retired' || state === 'destroyed') throw new InputError('KEY_STATE', `key version ${version} is ${state} and can never be primary again`);
}
