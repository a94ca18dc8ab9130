import fc from 'fast-check';

/**
 * Duration texts the vault reads, weighted to where two of them compare closely across
 * kinds: months and years beside days and weeks near their spans (a month is 28 to 31
 * days, seven years 2,555 to 2,557, 2,738 years about a million days), and the longest of
 * each unit the vault reads.
 */
export const durationTexts: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 400 }), fc.constantFrom('mo', 'y')).map(([n, u]) => `${n}${u}`),
  fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('h', 'd', 'w')).map(([n, u]) => `${n}${u}`),
  fc.integer({ min: 25, max: 1_300 }).map((n) => `${n}d`),
  fc.integer({ min: 2_550, max: 2_560 }).map((n) => `${n}d`),
  fc.integer({ min: 142_850, max: 142_870 }).map((n) => `${n}w`),
  fc.constantFrom('2738y', '999999h', '999999d', '366807w', '84360mo', '7030y'),
);
