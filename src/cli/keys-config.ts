import { KeyError } from '../errors';
import { SecretBytes, publicKeyOf, signingKeyId } from '../crypto';
import { EnvKeyProvider, KmsKeyProvider, Pkcs11KeyProvider, Pkcs11Signer, chainKeyProviders, type KeyProvider } from '../keys';
import type { CheckpointSigner } from '../audit';
import type { CliConfig } from './config';

/** The key providers a CLI run opens from its settings, and how to close them. */
export interface OpenedKeys {
  keyProvider?: KeyProvider;
  signer?: CheckpointSigner;
  close(): Promise<void>;
}

/**
 * The master key custody the settings name (VAULT_KEY_PROVIDER: keyring, env, pkcs11,
 * kms; or the one whose settings are given) as the vault's provider, with every other
 * configured one chained behind it for unwrapping, so `keys rotate-master` can move tenant
 * keys from one to the next. The keyring file's master keys, when it has any, are chained
 * last by openVault. A signing key from VAULT_SIGNING_KEY, or one in the token
 * (VAULT_PKCS11_SIGNING_KEY), replaces the keyring's.
 */
export async function openKeys(config: CliConfig): Promise<OpenedKeys> {
  const k = config.keys;
  const opened: (Pkcs11KeyProvider | Pkcs11Signer)[] = [];
  const close = async () => {
    for (const p of opened) await p.close();
  };
  try {
    const candidates: { name: string; make: () => Promise<KeyProvider> }[] = [];
    if (k.envMaster) candidates.push({ name: 'env', make: async () => EnvKeyProvider.fromBase64(k.envMaster!) });
    if (k.pkcs11) {
      const o = k.pkcs11;
      candidates.push({
        name: 'pkcs11',
        make: async () => {
          const p = await Pkcs11KeyProvider.open(o);
          opened.push(p);
          return p;
        },
      });
    }
    if (k.kms) {
      const o = k.kms;
      candidates.push({ name: 'kms', make: async () => new KmsKeyProvider({ keyId: o.keyId, client: { ...(o.endpoint ? { endpoint: o.endpoint } : {}), region: o.region } }) });
    }
    const out: OpenedKeys = { close };
    if (k.provider !== 'keyring') {
      const primary = candidates.find((c) => c.name === k.provider);
      if (!primary) throw new KeyError('KEYRING_INVALID', `VAULT_KEY_PROVIDER=${k.provider} but its settings are missing (see docs/key-management.md)`);
      const rest = await Promise.all(candidates.filter((c) => c !== primary).map((c) => c.make()));
      const first = await primary.make();
      out.keyProvider = rest.length > 0 ? chainKeyProviders(first, ...rest) : first;
    }
    if (k.envSigning) out.signer = signerFrom(k.envSigning);
    if (k.pkcs11Signing) {
      const signer = await Pkcs11Signer.open(k.pkcs11Signing);
      opened.push(signer);
      out.signer = signer;
    }
    return out;
  } catch (e) {
    await close();
    throw e;
  }
}

function signerFrom(value: string): CheckpointSigner {
  const raw = /^[A-Za-z0-9+/]+=*$/.test(value) ? Buffer.from(value, 'base64') : Buffer.alloc(0);
  if (raw.length !== 64) throw new KeyError('KEYRING_INVALID', 'VAULT_SIGNING_KEY must be base64 of a 64-byte Ed25519 secret key');
  const secretKey = SecretBytes.secure(new Uint8Array(raw));
  raw.fill(0);
  const publicKey = publicKeyOf(secretKey);
  return { id: signingKeyId(publicKey), publicKey, secretKey };
}
