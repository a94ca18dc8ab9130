import * as pkcs11js from 'pkcs11js';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backends, dropCreatedDatabases, tempHome } from '../support/backends';
import { asOwner } from '../support/owner';
import { runCli } from '../support/cli';
import { softHsmToken } from '../support/softhsm';
import { tokenSession } from '../support/token-session';
import { openVault } from '../../src/vault';
import { createLogger } from '../../src/observability';
import { Pkcs11Signer } from '../../src'; // as the package exports it
import { ensureSodium, exposeSecretBytes, generateSigningKeyPair, signingKeyId, verifyDetached } from '../../src/crypto';
import { parseCheckpoint, signCheckpoint, splitNote, verifyBundle } from '../../src/audit';

/**
 * The checkpoint signing key in a PKCS#11 token (SoftHSM2): created there as sensitive and
 * not extractable, it signs every checkpoint, access-trail head and bundle manifest inside
 * the token. The attacks: a holder of the PIN asking the token for the key; a key the token
 * would let out offered as the signing key; a DBA who rewrites a checkpoint with a key of
 * their own. And an auditor verifies with neither the token nor a keyring.
 */
afterAll(dropCreatedDatabases);

const quiet = createLogger({ level: 'silent' });
const hsm = softHsmToken();
const run = hsm ? describe : describe.skip;
const LABEL = 'session-vault-signing';


run('the checkpoint signing key in a PKCS#11 token (SoftHSM2)', () => {
  const options = (keyLabel = LABEL) => ({ module: hsm!.module, token: hsm!.token, pin: hsm!.pin, keyLabel });

  beforeAll(async () => {
    await ensureSodium();
    expect(await Pkcs11Signer.createKey(options())).toBe(true);
    expect(await Pkcs11Signer.createKey(options())).toBe(false); // idempotent: the label exists
  });

  it('the token will not give the signing key out, even to a holder of the PIN; its signatures are plain Ed25519', async () => {
    const { p, session } = tokenSession(hsm!);
    p.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_LABEL, value: LABEL },
    ]);
    const key = p.C_FindObjects(session)!;
    p.C_FindObjectsFinal(session);
    expect(() => p.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    p.C_CloseSession(session);
    const signer = await Pkcs11Signer.open(options());
    try {
      expect(signer.id).toBe(signingKeyId(signer.publicKey));
      expect(Object.values(signer).filter((v) => v instanceof Uint8Array && v.length >= 32)).toEqual([signer.publicKey]); // token handles, and no key bytes but the public key
      const message = Buffer.from('session-vault/v1/bank/s\n1\n');
      const sig = signer.sign(message);
      expect(sig).toHaveLength(64);
      expect(verifyDetached(sig, message, signer.publicKey)).toBe(true);
      expect(verifyDetached(sig, Buffer.from('session-vault/v1/bank/s\n2\n'), signer.publicKey)).toBe(false);
    } finally {
      await signer.close();
    }
    expect(() => signer.sign(Buffer.from('after close'))).toThrow(expect.objectContaining({ code: 'KEY_UNAVAILABLE' }));
  });

  it('refuses an extractable signing key, a key that is not Ed25519, an unknown label and a wrong PIN, without naming the PIN', async () => {
    const { p, session } = tokenSession(hsm!);
    /** A key pair made by hand with the PIN: the mechanism, the curve's parameters, and whether the token keeps its private key in. */
    const pair = (label: string, mechanism: number, params: string, guarded: boolean) =>
      p.C_GenerateKeyPair(
        session,
        { mechanism },
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(params, 'hex') },
          { type: pkcs11js.CKA_VERIFY, value: true },
          { type: pkcs11js.CKA_LABEL, value: label },
        ],
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: guarded },
          { type: pkcs11js.CKA_EXTRACTABLE, value: !guarded },
          { type: pkcs11js.CKA_SIGN, value: true },
          { type: pkcs11js.CKA_LABEL, value: label },
        ],
      );
    pair('leaky', 0x1055, '06032b6570', false); // CKM_EC_EDWARDS_KEY_PAIR_GEN, Ed25519, but the token would let it out
    // A P-256 pair under a label: a signing key, but not one the vault's verifiers know.
    pair('p256', pkcs11js.CKM_EC_KEY_PAIR_GEN, '06082a8648ce3d030107', true);
    p.C_CloseSession(session);
    await expect(Pkcs11Signer.open(options('leaky'))).rejects.toMatchObject({ code: 'KEYRING_INSECURE' });
    await expect(Pkcs11Signer.open(options('p256'))).rejects.toMatchObject({ code: 'KEYRING_INVALID', message: expect.stringMatching(/not an Ed25519 signing key/) });
    await expect(Pkcs11Signer.open(options('no-such-key'))).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    const wrong = await Pkcs11Signer.open({ ...options(), pin: '999999' }).catch((e: Error) => e);
    expect(wrong).toMatchObject({ code: 'KEY_UNAVAILABLE' });
    expect(String((wrong as Error).message) + String((wrong as Error).stack)).not.toContain('999999');
  });

  describe.each(backends())('on $name', (backend) => {
    it('signs checkpoints, the access trail and bundles in the token; a checkpoint re-signed with another key is not trusted', async () => {
      const h = await tempHome();
      const database = backend.name === 'pglite' ? undefined : await backend.database();
      const signer = await Pkcs11Signer.open(options());
      const vault = await openVault({ home: h.home, database, signer, logger: quiet });
      try {
        await vault.createTenant('bank');
        await vault.session('bank', 's').append({ type: 'message', role: 'user', content: 'signed in the HSM' });
        await vault.session('bank', 's').append({ type: 'task', task: 'check the claim' });
        const bundle = await vault.operator({ actor: 'auditor', reason: 'review' }).export('bank', 's');
        expect((await verifyBundle(bundle)).ok).toBe(true);
        expect(bundle.manifestSignature).toContain(`\u2014 ${signer.id} `);
        const trail = [];
        for await (const r of vault.accessLog()) trail.push(r);
        expect(trail.map((r) => [r.action, r.keyId])).toEqual([
          ['retention.set:30d/7y', signer.id],
          ['export', signer.id],
        ]);
        expect((await vault.verify()).problems).toEqual([]);
        // Every stored checkpoint is the token's signature.
        const [notes] = (await asOwner(vault, database ?? 'pglite', [{ text: `SELECT seq, note FROM checkpoints WHERE tenant_id = 'bank' ORDER BY seq` }])) as [{ seq: string; note: string }[]];
        expect(notes.map((n) => Number(n.seq))).toEqual([1, 2]);
        for (const n of notes) {
          const { body, signatures } = splitNote(n.note)!;
          expect(signatures.map((s) => s.name)).toEqual([signer.id]);
          expect(verifyDetached(signatures[0]!.blob.subarray(4), Buffer.from(body, 'utf8'), signer.publicKey)).toBe(true);
        }
        // A DBA replaces the newest checkpoint with one signed by a key of their own.
        const own = generateSigningKeyPair();
        const c = parseCheckpoint(notes[1]!.note)!.checkpoint;
        const forged = signCheckpoint({ ...c, time: new Date(c.time.getTime() + 1) }, { id: signingKeyId(own.publicKey), publicKey: own.publicKey, secretKey: own.secretKey });
        await asOwner(vault, database ?? 'pglite', [{ text: `UPDATE checkpoints SET note = $1 WHERE tenant_id = 'bank' AND seq = 2`, values: [forged] }]);
        // Its head's only signature is now one no trusted key made: the event at it is past the last trusted head too.
        expect((await vault.verify()).problems).toEqual([
          expect.objectContaining({ session: 's', seq: 2, kind: 'untrusted_checkpoint_key' }),
          expect.objectContaining({ session: 's', seq: 2, kind: 'unsigned_tail' }),
        ]);
      } finally {
        await vault.close();
        await signer.close();
        h.cleanup();
      }
    }, 120_000);
  });

  it('the CLI: init creates the key pair in the token and writes no keyring; an auditor verifies with neither token nor keyring', async () => {
    const pg = backends().find((b) => b.name === 'postgres');
    const home = mkdtempSync(path.join(os.tmpdir(), 'sv-cli-hsm-sign-'));
    const db: Record<string, string> = pg ? { VAULT_DATABASE_URL: await pg.database() } : {};
    const label = `signing-${Date.now()}`;
    const env = { SOFTHSM2_CONF: process.env.SOFTHSM2_CONF!, VAULT_PKCS11_MODULE: hsm!.module, VAULT_PKCS11_TOKEN: hsm!.token, VAULT_PKCS11_PIN: hsm!.pin, VAULT_PKCS11_KEY: `master-${label}`, VAULT_PKCS11_SIGNING_KEY: label, VAULT_HOME: home, ...db };
    const init = await runCli(env, ['init']);
    expect(init.stderr).toBe('');
    expect(init.stdout).toMatch(new RegExp(`signing +pkcs11:${hsm!.token}/${label} \\(key pair created in the token\\)`));
    expect(init.stdout).toMatch(/keyring +none \(master key from the key provider, signing key in the token\)/);
    expect(existsSync(path.join(home, 'keyring.json'))).toBe(false);
    expect((await runCli(env, ['tenant', 'create', 'bank'])).code).toBe(0);
    expect((await runCli(env, ['append', 'bank', 's1', '--event', JSON.stringify({ type: 'message', role: 'user', content: 'signed in the token' })])).code).toBe(0);
    const bundleFile = path.join(home, 'bundle.json');
    expect((await runCli(env, ['export', 'bank', 's1', '--out', bundleFile, '--actor', 'ops', '--reason', 'audit'])).code).toBe(0);
    // The auditor: the database and the witness, no token settings, no keyring, no signing key.
    const auditor = { VAULT_HOME: home, ...db };
    const verified = await runCli(auditor, ['verify']);
    expect(verified.stdout).toMatch(/^OK: 1 session\(s\), 1 event\(s\) checked/);
    expect(verified.code).toBe(0);
    expect((await runCli({}, ['verify-bundle', bundleFile])).code).toBe(0);
    // The manifest is signed by the token's key, which the bundle carries for the auditor.
    const bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as { manifestSignature: string };
    expect(bundle.manifestSignature).toMatch(/\u2014 ed25519:[0-9a-f]{16} /);
    // Rotating the keyring's signing key would change nothing the vault signs with.
    const rotate = await runCli(env, ['keys', 'rotate-signing', '--actor', 'sec', '--reason', 'annual']);
    expect(rotate.code).not.toBe(0);
    expect(rotate.stderr).toMatch(/INVALID_CONFIG.*in the PKCS#11 token/);
    // Likewise with the signing key from the environment, and nothing recorded either way.
    const fromEnv = await runCli({ VAULT_HOME: home, ...db, VAULT_SIGNING_KEY: Buffer.from(exposeSecretBytes(generateSigningKeyPair().secretKey)).toString('base64') }, ['keys', 'rotate-signing', '--actor', 'sec', '--reason', 'annual']);
    expect(fromEnv.stderr).toMatch(/INVALID_CONFIG.*comes from VAULT_SIGNING_KEY/);
    const trail = await runCli(auditor, ['access-log', '--json']);
    expect(trail.code).toBe(0);
    expect(trail.stdout).toContain('"export"');
    expect(trail.stdout).not.toContain('rotate-signing');
    // Both signing keys named at once is a configuration error, before anything opens.
    const both = await runCli({ ...env, VAULT_SIGNING_KEY: Buffer.alloc(64, 1).toString('base64') }, ['sessions', 'bank']);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/INVALID_CONFIG/);
  }, 240_000);
});
