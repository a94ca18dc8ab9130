import fc from 'fast-check';
import { keyedBatch } from '../../src/domain';

/** A batch's idempotency key (service header, CLI flag): what each event ends up keyed, and which keys are refused. */
describe('keyedBatch', () => {
  const event = fc.oneof(
    fc.record({ type: fc.constant('task'), task: fc.string() }),
    fc.record({ type: fc.constant('task'), task: fc.string(), idempotencyKey: fc.string({ minLength: 1 }) }),
    fc.constantFrom(null, 7, 'not an event', [1, 2]),
  );

  it('keys event i <key>:<i> unless it has its own key, changes nothing else, and leaves the input as it was', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 20 }), fc.stringMatching(/^[\x20-\x7e]{1,100}$/), (values, key) => {
        const before = JSON.stringify(values);
        const out = keyedBatch(values, key);
        expect(JSON.stringify(values)).toBe(before);
        expect(out).toHaveLength(values.length);
        out.forEach((o, i) => {
          const v = values[i];
          if (typeof v !== 'object' || v === null || Array.isArray(v)) return expect(o).toBe(v);
          const own = (v as { idempotencyKey?: string }).idempotencyKey;
          expect(o).toEqual({ ...v, idempotencyKey: own ?? `${key}:${i}` });
        });
      }),
    );
  });

  it('refuses a key that is empty, longer than 100 characters or not printable ASCII, naming no part of it', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constant(''), fc.string({ minLength: 101, maxLength: 300 }), fc.string({ minLength: 1 }).map((s) => `${s}\n`), fc.constant('ключ')), (key) => {
        let thrown: unknown;
        try {
          keyedBatch([{ type: 'task', task: 't' }], key);
        } catch (e) {
          thrown = e;
        }
        expect(thrown).toMatchObject({ code: 'INVALID_INPUT', message: 'an idempotency key is 1..100 printable ASCII characters' });
      }),
    );
  });
});
