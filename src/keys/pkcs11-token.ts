import type * as Pkcs11js from 'pkcs11js';
import { KeyError } from '../errors';
import { loadOptional } from '../optional';

/**
 * A PKCS#11 token as the key provider (pkcs11-provider.ts) and the signer
 * (pkcs11-signer.ts) use it: the library loaded and initialised once a process, a
 * session logged in, and token failures as typed errors that never carry the PIN.
 */

export type Lib = typeof Pkcs11js;

/** Which token, and how to log in to it. */
export interface TokenLogin {
  /** The token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so, or the HSM vendor's. */
  module: string;
  /** The label of the token (slot). */
  token: string;
  /** The token user's PIN. */
  pin: string;
}

/** One loaded, initialised library per module path for the process (C_Initialize is once a process). */
const libraries = new Map<string, { lib: Lib; pkcs11: Pkcs11js.PKCS11; users: number }>();

async function acquire(modulePath: string): Promise<{ lib: Lib; pkcs11: Pkcs11js.PKCS11 }> {
  const known = libraries.get(modulePath);
  if (known) {
    known.users++;
    return known;
  }
  const lib = (await loadOptional(() => import('pkcs11js'), 'pkcs11js', 'a PKCS#11 key provider')) as Lib & { default?: Lib };
  const api: Lib = lib.PKCS11 ? lib : lib.default!;
  const pkcs11 = new api.PKCS11();
  try {
    pkcs11.load(modulePath);
  } catch {
    throw new KeyError('KEY_UNAVAILABLE', `cannot load the PKCS#11 library ${modulePath}`);
  }
  try {
    pkcs11.C_Initialize();
  } catch (e) {
    if ((e as { code?: number }).code !== api.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw asKeyError(e, 'initialising the PKCS#11 library');
  }
  const entry = { lib: api, pkcs11, users: 1 };
  libraries.set(modulePath, entry);
  return entry;
}

function release(modulePath: string): void {
  const entry = libraries.get(modulePath);
  if (!entry || --entry.users > 0) return;
  libraries.delete(modulePath);
  try {
    entry.pkcs11.C_Finalize();
  } catch {
    // finalising is best effort at the end
  }
}

function openSession(lib: Lib, pkcs11: Pkcs11js.PKCS11, o: TokenLogin): Pkcs11js.Handle {
  const slot = pkcs11.C_GetSlotList(true).find((s) => pkcs11.C_GetTokenInfo(s).label.trim() === o.token);
  if (slot === undefined) throw new KeyError('KEY_NOT_FOUND', `no PKCS#11 token labelled ${o.token}`);
  const session = pkcs11.C_OpenSession(slot, lib.CKF_SERIAL_SESSION | lib.CKF_RW_SESSION);
  try {
    pkcs11.C_Login(session, lib.CKU_USER, o.pin);
  } catch (e) {
    const code = (e as { code?: number }).code;
    if (code !== lib.CKR_USER_ALREADY_LOGGED_IN) {
      closeQuietly(pkcs11, session);
      if (code === lib.CKR_PIN_INCORRECT || code === lib.CKR_PIN_LEN_RANGE) throw new KeyError('KEY_UNAVAILABLE', `the PIN for token ${o.token} was refused`);
      throw e;
    }
  }
  return session;
}

function closeQuietly(pkcs11: Pkcs11js.PKCS11, session: Pkcs11js.Handle): void {
  try {
    pkcs11.C_CloseSession(session);
  } catch {
    // closing is best effort
  }
}

export function isTrue(v: unknown): boolean {
  return v === true || (Buffer.isBuffer(v) && v.length > 0 && v[0] !== 0);
}

/** A token failure as KEY_UNAVAILABLE naming the PKCS#11 function and result, never a PIN or key. */
export function asKeyError(e: unknown, doing: string): KeyError {
  if (e instanceof KeyError) return e;
  const method = String((e as { method?: string }).method ?? '');
  const code = (e as { code?: unknown }).code;
  return new KeyError('KEY_UNAVAILABLE', `PKCS#11 ${doing}: ${method || 'error'}${typeof code === 'number' ? ` (CKR 0x${code.toString(16)})` : ''}`);
}

/** A logged-in session on the token, with the library it came from. */
export interface TokenSession {
  lib: Lib;
  pkcs11: Pkcs11js.PKCS11;
  session: Pkcs11js.Handle;
}

/**
 * Opens a logged-in session and hands it to `use`, which keeps it (a provider or signer
 * closes it with `endSession`). If `use` fails, the session is closed and the failure is
 * a typed error (`doing` names what was tried).
 */
export function keepSession<T>(login: TokenLogin, doing: string, use: (t: TokenSession) => T): Promise<T> {
  return onSession(login, doing, use, true);
}

/** Opens a logged-in session for `use` alone, and closes it after, whatever happens. */
export function withSession<T>(login: TokenLogin, doing: string, use: (t: TokenSession) => T): Promise<T> {
  return onSession(login, doing, use, false);
}

async function onSession<T>(login: TokenLogin, doing: string, use: (t: TokenSession) => T, keep: boolean): Promise<T> {
  const { lib, pkcs11 } = await acquire(login.module);
  let session: Pkcs11js.Handle | undefined;
  let kept = false;
  try {
    session = openSession(lib, pkcs11, login);
    const out = use({ lib, pkcs11, session });
    kept = keep;
    return out;
  } catch (e) {
    throw asKeyError(e, doing);
  } finally {
    if (!kept) {
      if (session !== undefined) closeQuietly(pkcs11, session);
      release(login.module);
    }
  }
}

/** Logs out and closes a kept session, and the library when nothing else of the process uses it. */
export function endSession(pkcs11: Pkcs11js.PKCS11, session: Pkcs11js.Handle, modulePath: string): void {
  try {
    pkcs11.C_Logout(session);
  } catch {
    // already logged out (another session of the same token logged out)
  }
  closeQuietly(pkcs11, session);
  release(modulePath);
}

/** The object of this class with this label, or null. */
export function findObject(t: TokenSession, cls: number, label: string): Pkcs11js.Handle | null {
  t.pkcs11.C_FindObjectsInit(t.session, [
    { type: t.lib.CKA_CLASS, value: cls },
    { type: t.lib.CKA_LABEL, value: label },
  ]);
  try {
    return t.pkcs11.C_FindObjects(t.session);
  } finally {
    t.pkcs11.C_FindObjectsFinal(t.session);
  }
}
