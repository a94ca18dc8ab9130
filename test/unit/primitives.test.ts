import fc from 'fast-check';
import { ensureSodium, loadNativePrimitives, primitives, usePrimitives, wasmPrimitives, SecretBytes, type Primitives } from '../../src/crypto';
import { GENESIS_HASH, eventHash, eventKey, openEvent, sealEvent } from '../../src/events';

/**
 * sodium-native (optional, native) and libsodium-wrappers (WebAssembly, the fallback)
 * must produce identical bytes: known-answer vectors on both, and a property over random
 * keys, nonces, associated data and messages that each opens what the other sealed.
 */
beforeAll(ensureSodium);

const native = loadNativePrimitives();
if (!native) {
  if (process.env.CI) throw new Error('sodium-native did not load under CI: it is an optional dependency with prebuilt binaries, and CI must exercise it');
  process.stderr.write('[primitives.test] sodium-native is not loadable here: only the libsodium-wrappers half runs\n');
}
const builds: Primitives[] = native ? [native, wasmPrimitives] : [wasmPrimitives];
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');

describe.each(builds.map((p) => [p.name, p] as const))('%s', (_name, p) => {
  it('gives the known answers', () => {
    expect(hex(p.aeadEncrypt(Buffer.from('hello'), Buffer.from('ad'), new Uint8Array(24).fill(0x24), new Uint8Array(32).fill(0x42)))).toBe('cd3bbb0901dac14541d46fc7af602bd3646b151a76');
    expect(hex(p.generichash(32, Buffer.from('x'), null))).toBe('d161d71145abeec5ef15abcf0459cec60a27321e2f0ac0ef7ace5254f5944476');
  });

  it('hashes input given in parts as the same input whole (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), (parts) => {
        const stream = p.generichashStream(32);
        for (const part of parts) stream.update(part);
        expect(hex(stream.final())).toBe(hex(p.generichash(32, Buffer.concat(parts), null)));
      }),
      { numRuns: 200 },
    );
    const stream = p.generichashStream(32);
    stream.update(Buffer.from('x'));
    expect(hex(stream.final())).toBe('d161d71145abeec5ef15abcf0459cec60a27321e2f0ac0ef7ace5254f5944476');
  });

  it('seals and opens events, and the vault uses it when told to', () => {
    const before = primitives();
    usePrimitives(p);
    try {
      expect(primitives().name).toBe(p.name);
      const key = SecretBytes.adopt(new Uint8Array(32).fill(1));
      const row = sealEvent({ type: 'task', task: 'x' }, { tenant: 't', session: 's', seq: 1, at: new Date(0), correlationId: 'c', prevHash: GENESIS_HASH, dataKey: key });
      expect(openEvent(row, key).data).toEqual({ task: 'x' });
      expect(hex(eventHash(GENESIS_HASH, row))).toBe(hex(row.hash));
      expect(eventKey(key, 't', 's', 1).disposed).toBe(false);
    } finally {
      usePrimitives(before);
    }
  });
});

(native ? it : it.skip)('both builds produce identical bytes and open each other’s ciphertexts (property)', () => {
  const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
  fc.assert(
    fc.property(bytes(32, 32), bytes(24, 24), bytes(0, 64), bytes(0, 4096), fc.option(bytes(16, 64)), (key, nonce, ad, m, hashKey) => {
      const a = native!.aeadEncrypt(m, ad, nonce, key);
      const b = wasmPrimitives.aeadEncrypt(m, ad, nonce, key);
      expect(hex(a)).toBe(hex(b));
      expect(hex(wasmPrimitives.aeadDecrypt(a, ad, nonce, key))).toBe(hex(m));
      expect(hex(native!.aeadDecrypt(b, ad, nonce, key))).toBe(hex(m));
      const tampered = Uint8Array.from(a);
      tampered[0]! ^= 1;
      expect(() => native!.aeadDecrypt(tampered, ad, nonce, key)).toThrow();
      expect(() => wasmPrimitives.aeadDecrypt(tampered, ad, nonce, key)).toThrow();
      expect(hex(native!.generichash(32, m, hashKey))).toBe(hex(wasmPrimitives.generichash(32, m, hashKey)));
    }),
    { numRuns: 200 },
  );
  const seed = new Uint8Array(32).fill(3);
  const { privateKey, publicKey } = (require('libsodium-wrappers') as typeof import('libsodium-wrappers')).crypto_sign_seed_keypair(seed);
  fc.assert(
    fc.property(bytes(0, 512), (m) => {
      const sig = native!.signDetached(m, privateKey);
      expect(hex(sig)).toBe(hex(wasmPrimitives.signDetached(m, privateKey)));
      expect(wasmPrimitives.verifyDetached(sig, m, publicKey)).toBe(true);
      expect(native!.verifyDetached(sig, m, publicKey)).toBe(true);
      const bad = Uint8Array.from(sig);
      bad[10]! ^= 4;
      expect(native!.verifyDetached(bad, m, publicKey)).toBe(false);
    }),
    { numRuns: 100 },
  );
});
