/**
 * The framing of docs/formats.md written out by hand, for known-answer tests that build a
 * format's bytes independently of src/crypto/framing.ts.
 */
export const u32be = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

export const u64be = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

/** A length-prefixed value (`str`, `bytes`). */
export const lp = (b: Buffer): Buffer => Buffer.concat([u32be(b.length), b]);
