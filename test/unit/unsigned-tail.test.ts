import fc from 'fast-check';
import { unsignedTail, type SignedHead } from '../../src/audit';

/**
 * Where a chain runs past its last signed head (audit/head-check.ts), which verify names
 * `unsigned_tail`: events a vault that signs did not append.
 */
describe('the unsigned tail of a chain (unsignedTail)', () => {
  const hash = new Uint8Array(32);
  const at = (seq: number, source: SignedHead['source'] = 'checkpoint'): SignedHead => ({ seq, hash, source });

  it('is the seq after the last signed head, checkpoint or witness, when events follow it', () => {
    expect(unsignedTail([at(1), at(3)], 5, true)).toBe(4);
    expect(unsignedTail([at(3), at(5, 'witness')], 7, false)).toBe(6);
  });

  it('is none when the last event is signed, or the chain is empty; a snapshot signs nothing', () => {
    expect(unsignedTail([at(1), at(5)], 5, true)).toBeNull();
    expect(unsignedTail([], 0, true)).toBeNull();
    expect(unsignedTail([at(2), at(6, 'snapshot')], 6, true)).toBe(3);
  });

  it('holds a session with no signed head to it only where the vault signs (its trail is signed)', () => {
    expect(unsignedTail([], 4, true)).toBe(1);
    expect(unsignedTail([], 4, false)).toBeNull();
    expect(unsignedTail([at(3, 'snapshot')], 4, false)).toBeNull();
  });

  it('is a property of the last signed seq alone: any heads at or below it, in any order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), fc.integer({ min: 0, max: 60 }), fc.boolean(), (seqs, last, signs) => {
        const top = Math.max(...seqs);
        const expected = last > top ? top + 1 : null;
        expect(unsignedTail(seqs.map((s) => at(s)), last, signs)).toBe(expected);
        expect(unsignedTail([...seqs].reverse().map((s) => at(s, 'witness')), last, signs)).toBe(expected);
      }),
    );
  });
});
