import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/local/lib/softhsm/libsofthsm2.so'];
const REASON = 'SoftHSM2 is not installed (Debian package softhsm2; .ci/run installs it)';

/**
 * Global setup: a token folder and SoftHSM2 config for the whole run, in SOFTHSM2_CONF,
 * which the library reads from the C environment when it loads (a jest test file's
 * process.env does not reach it, so this runs before the workers start).
 */
export function prepareSoftHsm(): void {
  if (!MODULES.some((m) => existsSync(m)) || process.env.SOFTHSM2_CONF) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sv-softhsm-'));
  mkdirSync(path.join(dir, 'tokens'));
  const conf = path.join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
}

/**
 * A fresh SoftHSM2 token for one test file (its own label, in the run's token folder),
 * initialised with PINs. Null, with the reason printed, when SoftHSM2 is not installed;
 * under CI that is a failure.
 */
export function softHsmToken(): { module: string; token: string; pin: string; soPin: string } | null {
  const module = MODULES.find((m) => existsSync(m));
  if (!module || !process.env.SOFTHSM2_CONF) {
    if (process.env.CI) throw new Error(`CI requires the HSM tests: ${REASON}`);
    process.stderr.write(`[pkcs11] HSM tests skipped: ${REASON}\n`);
    return null;
  }
  const token = `vault-${randomBytes(4).toString('hex')}`;
  const pin = '246810';
  const soPin = '13579111';
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', token, '--pin', pin, '--so-pin', soPin], { stdio: 'ignore' });
  return { module, token, pin, soPin };
}
