export { ensureSodium } from './sodium';
export { SecretBytes, exposeSecretBytes } from './secret-bytes';
export { seal, sealText, open, openText, generateKey, AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES } from './aead';
export { paddedSize, padInPlace, unpaddedLength, PAD_BLOCK } from './padding';
export type { Sealed } from './aead';
export { blake2b256, blake2b256Into, blake2b256Stream, deriveKey, withDerivedKey, toHex, fromHex, bytesEqual, HASH_BYTES } from './hash';
export { frame, str, bytes, u32, u64, f64, opt, FrameWriter } from './framing';
export type { Field } from './framing';
export {
  generateSigningKeyPair,
  signingKeyId,
  publicKeyOf,
  signDetached,
  verifyDetached,
} from './sign';
export type { SigningKeyPair } from './sign';
export { primitives, wasmPrimitives, loadNativePrimitives, usePrimitives, slabBytes } from './primitives';
export type { Primitives } from './primitives';
export { releaseMessage, releaseProof, hmacPads, RELEASE_PROOF_PREFIX } from './release-proof';
export type { ReleaseSubject } from './release-proof';
