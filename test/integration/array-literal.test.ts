import fc from 'fast-check';
import { backends, dropCreatedDatabases, testVault } from '../support/backends';
import { storeOf } from '../../src/vault/vault';
import { numberArray, textArray, timeArray } from '../../src/store/array-literal';
import type { Store } from '../../src/store';
import type { Vault } from '../../src/vault';

/**
 * A batch's clear columns travel as array literals the vault writes itself
 * (src/store/array-literal.ts). Whatever a value holds (quotes, backslashes, commas,
 * braces, the word NULL, nothing), the server reads the array back as exactly the values
 * given, on both backends; and a batch whose correlation ids, idempotency keys and tool
 * names are made to break out of their element stores each verbatim, on its own row.
 */
afterAll(dropCreatedDatabases);

/** Printable ASCII (what correlation ids and idempotency keys may hold), weighted to the characters an array literal gives meaning to. */
const hostileToken = fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', ',', '{', '}', ' ', "'", 'N', 'U', 'L'), fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c))), minLength: 1, maxLength: 40 });
const hostileText = fc.oneof(
  hostileToken,
  fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !/[\u0000]/.test(s)),
  fc.constantFrom('', 'NULL', 'null', '"', '\\', '\\"', '","', '{}', '{"a"}', ' ', 'a,b', '}'),
);

describe.each(backends())('array literals on $name', (backend) => {
  let vault: Vault;
  let store: Store;
  let close: () => Promise<void>;
  const asJson = async (literal: string, type: string): Promise<unknown> => {
    const [row] = await store.run<{ v: string | null }>({ name: `array_literal_${type.replace(/\W/g, '_')}`, text: `SELECT array_to_json($1::${type}[])::text AS v` }, [literal]);
    return JSON.parse(row!.v!);
  };

  beforeAll(async () => {
    ({ vault, close } = await testVault(backend));
    store = storeOf(vault);
    await vault.createTenant('bank');
  });
  afterAll(() => close());

  it('text: the server reads back exactly the strings and nulls given', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(hostileText, { nil: null }), { minLength: 1, maxLength: 12 }), async (values) => {
        expect(await asJson(textArray(values, (v) => v), 'text')).toEqual(values);
      }),
      { numRuns: 150 },
    );
  });

  it('numbers: integers, bigints and doubles read back equal, nulls as nulls', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { nil: null }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.option(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), { nil: null }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.option(fc.double({ noNaN: true, noDefaultInfinity: true, min: 0 }).map((d) => (d === 0 ? 0 : d)), { nil: null }), { minLength: 1, maxLength: 8 }),
        async (ints, bigs, doubles) => {
          expect(await asJson(numberArray(ints, (v) => v), 'integer')).toEqual(ints);
          expect(await asJson(numberArray(bigs, (v) => v), 'bigint')).toEqual(bigs);
          expect(await asJson(numberArray(doubles, (v) => v), 'double precision')).toEqual(doubles);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('times: each read back at the same millisecond, the one Date a batch shares and distinct ones alike', async () => {
    const shared = new Date('2026-12-05T06:43:33.123Z');
    const times = [shared, shared, new Date(0), new Date('2099-01-01T00:00:00.001Z'), shared];
    const back = (await asJson(timeArray(times, (t) => t), 'timestamptz')) as string[];
    expect(back.map((s) => Date.parse(s))).toEqual(times.map((t) => t.getTime()));
  });

  it('a batch whose ids and tool names try to break out of their elements stores each verbatim, on its own row', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(hostileToken, { minLength: 2, maxLength: 6 }), fc.array(hostileText.filter((s) => s.length > 0 && !/[\u0000-\u001f\u007f]/.test(s)), { minLength: 6, maxLength: 6 }), async (ids, tools) => {
        const session = `s-${Math.random().toString(36).slice(2)}`;
        const batch = ids.map((id, i) => ({ type: 'tool_call', callId: `c${i}`, tool: tools[i]!, input: { i }, correlationId: id, idempotencyKey: `k${i}${id}` }));
        const first = await vault.session('bank', session).appendMany(batch);
        expect(first).toMatchObject({ appended: ids.length, deduplicated: false });
        const stored = [];
        for await (const e of vault.session('bank', session).events()) stored.push([e.seq, e.correlationId, (e.data as { tool: string }).tool, (e.data as { input: unknown }).input]);
        expect(stored).toEqual(ids.map((id, i) => [i + 1, id, tools[i], { i }]));
        // The keys were stored verbatim too: the same batch again is found by them, not written twice.
        expect(await vault.session('bank', session).appendMany(batch)).toMatchObject({ deduplicated: true, lastSeq: ids.length });
      }),
      { numRuns: 25 },
    );
  });
});
