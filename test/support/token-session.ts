import * as pkcs11js from 'pkcs11js';

/** A logged-in session on a test token straight through pkcs11js: what anyone holding the PIN has. */
export function tokenSession(hsm: { module: string; token: string; pin: string }): { p: pkcs11js.PKCS11; session: Buffer } {
  const p = new pkcs11js.PKCS11();
  p.load(hsm.module);
  try {
    p.C_Initialize();
  } catch {
    // initialised by a provider or signer in this process
  }
  const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === hsm.token)!;
  const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    p.C_Login(session, pkcs11js.CKU_USER, hsm.pin);
  } catch {
    // already logged in through another session of this process
  }
  return { p, session };
}
