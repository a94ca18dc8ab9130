import fc from 'fast-check';
import { copyEvents, type Json } from '../../src/replay';
import type { VaultEvent } from '../../src/domain';

/**
 * Decrypted events handed out of what the vault keeps (a model context's held events) are
 * copies: equal to a structured clone, sharing no object or array with what is kept, so a
 * caller changing what it was given changes nothing held.
 */
const data = fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constant('__proto__')), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });
const event = fc.record({ seq: fc.integer({ min: 1 }), type: fc.constant('message' as const), at: fc.date({ noInvalidDate: true }), correlationId: fc.string(), hash: fc.string(), data });

/** Every object and array inside a value, to check none is shared. */
function containers(v: unknown, out = new Set<object>()): Set<object> {
  if (v !== null && typeof v === 'object') {
    out.add(v);
    for (const k of Object.keys(v)) containers((v as Record<string, unknown>)[k], out);
  }
  return out;
}

it('copies events as a structured clone would (new times, new data), sharing no object with them (property)', () => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 5 }), (events) => {
      const kept = events.map((e) => ({ ...e, data: JSON.parse(JSON.stringify(e.data)) as VaultEvent['data'] })) as VaultEvent[];
      // What a structured clone gives (built here, in the test's realm): new times, new data.
      const before = kept.map((e) => ({ ...e, at: new Date(e.at.getTime()), data: JSON.parse(JSON.stringify(e.data)) as VaultEvent['data'] }));
      const copies = copyEvents(kept);
      expect(copies).toStrictEqual(before);
      const inKept = containers(kept);
      for (const c of containers(copies)) expect(inKept.has(c)).toBe(false);
      // Changing every copy changes nothing kept.
      for (const c of copies) {
        c.at.setTime(0);
        for (const k of Object.keys(c.data)) (c.data as Record<string, Json>)[k] = 'changed';
      }
      expect(kept).toStrictEqual(before);
    }),
    { numRuns: 300 },
  );
});
