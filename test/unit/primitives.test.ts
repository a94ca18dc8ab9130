import fc from 'fast-check';
import { deriveKey, ensureSodium, exposeSecretBytes, loadNativePrimitives, open, openText, primitives, seal, usePrimitives, wasmPrimitives, withDerivedKey, SecretBytes, type Primitives } from '../../src/crypto';
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

  it('decrypts and hashes into a given buffer as into its own (property)', () => {
    const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
    fc.assert(
      fc.property(bytes(32, 32), bytes(24, 24), bytes(0, 64), bytes(0, 2048), fc.integer({ min: 0, max: 64 }), fc.option(bytes(16, 64)), (key, nonce, ad, m, spare, hashKey) => {
        const c = p.aeadEncrypt(m, ad, nonce, key);
        const out = new Uint8Array(m.length + spare).fill(0xaa);
        expect(p.aeadDecryptInto(out, c, ad, nonce, key)).toBe(m.length);
        expect(hex(out.subarray(0, m.length))).toBe(hex(m));
        const tampered = Uint8Array.from(c);
        tampered[tampered.length - 1]! ^= 1;
        expect(() => p.aeadDecryptInto(out, tampered, ad, nonce, key)).toThrow();
        if (m.length > 0) expect(() => p.aeadDecryptInto(new Uint8Array(m.length - 1), c, ad, nonce, key)).toThrow(); // no room: refused
        const digest = new Uint8Array(32);
        p.generichashInto(digest, m, hashKey);
        expect(hex(digest)).toBe(hex(p.generichash(32, m, hashKey)));
      }),
      { numRuns: 200 },
    );
  });

  it('keeps every ciphertext it returned intact while more are sealed, whatever their sizes (property)', () => {
    // sodium-native's ciphertexts are views cut from shared slabs: none may overlap another,
    // across slab boundaries and past the size that gets its own memory.
    const key = new Uint8Array(32).fill(7);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 12_000 }), { minLength: 1, maxLength: 40 }), (lengths) => {
        const sealed = lengths.map((n, i) => {
          const m = new Uint8Array(n).fill(i & 0xff);
          const nonce = new Uint8Array(24).fill(i & 0xff);
          return { m, nonce, c: p.aeadEncrypt(m, new Uint8Array(0), nonce, key), copy: '' };
        });
        for (const s of sealed) s.copy = hex(s.c);
        for (const s of sealed) p.aeadEncrypt(s.m, new Uint8Array(0), s.nonce.map((b) => b ^ 0xff), key); // more sealed after them, other bytes
        for (const s of sealed) {
          expect(s.c).toBeInstanceOf(Uint8Array);
          expect(s.c.length).toBe(s.m.length + 16);
          expect(hex(s.c)).toBe(s.copy);
          expect(hex(p.aeadDecrypt(s.c, new Uint8Array(0), s.nonce, key))).toBe(hex(s.m));
        }
      }),
      { numRuns: 100 },
    );
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

  it('opens text and derives once-used keys in reused memory, as open and deriveKey do', () => {
    const before = primitives();
    usePrimitives(p);
    try {
      const key = SecretBytes.adopt(new Uint8Array(32).fill(7));
      const ad = Buffer.from('ad');
      // Growing sizes (the reused buffer grows), then a short one after a long one.
      for (const text of ['{"a":1}', 'é💶'.repeat(5000), '', '{"b":"' + 'x'.repeat(70_000) + '"}', '{}']) {
        const sealed = seal(key, Buffer.from(text, 'utf8'), ad);
        expect(openText(key, sealed, ad)).toBe(Buffer.from(open(key, sealed, ad)).toString('utf8'));
        const bad = { ...sealed, ciphertext: Uint8Array.from(sealed.ciphertext) };
        bad.ciphertext[0]! ^= 1;
        expect(() => openText(key, bad, ad)).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
        expect(() => openText(key, sealed, Buffer.from('elsewhere'))).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
      }
      expect(() => openText(key, { nonce: new Uint8Array(24), ciphertext: new Uint8Array(15) }, ad)).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));

      const input = Buffer.from('event 1');
      let kept: SecretBytes | null = null;
      const nested = withDerivedKey(key, input, (outer) => {
        kept = outer;
        const inner = withDerivedKey(key, Buffer.from('event 2'), (k) => hex(exposeSecretBytes(k)));
        return [hex(exposeSecretBytes(outer)), inner];
      });
      expect(nested).toEqual([hex(exposeSecretBytes(deriveKey(key, input))), hex(exposeSecretBytes(deriveKey(key, Buffer.from('event 2'))))]);
      // A caller that kept the key past the call holds nothing usable: it was zeroed and disposed.
      expect(() => exposeSecretBytes(kept!)).toThrow('key material used after dispose');
    } finally {
      usePrimitives(before);
    }
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
