import fc from 'fast-check';
import { parseEvent, LIMITS } from '../../src/domain';
import { frame, f64, ensureSodium } from '../../src/crypto';
import { encodeForHash, GENESIS_HASH } from '../../src/events';

/** Input chosen to break the boundary: each is refused with a typed error, or made canonical, never silently changed. */
beforeAll(ensureSodium);

const nest = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

describe('the event boundary', () => {
  it('refuses nesting past the depth limit with INVALID_EVENT, even 5000 deep (no stack overflow)', () => {
    expect(() => parseEvent({ type: 'tool_call', callId: 'c', tool: 't', input: nest(LIMITS.maxDepth - 2) })).not.toThrow();
    for (const depth of [LIMITS.maxDepth + 1, 5000]) {
      expect(() => parseEvent({ type: 'tool_call', callId: 'c', tool: 't', input: nest(depth) })).toThrow(expect.objectContaining({ code: 'INVALID_EVENT', message: expect.stringMatching(/nested deeper than 64/) }));
    }
    const deepArray = JSON.parse('['.repeat(5000) + ']'.repeat(5000));
    expect(() => parseEvent({ type: 'tool_result', callId: 'c', output: deepArray })).toThrow(expect.objectContaining({ code: 'INVALID_EVENT' }));
  });

  it('refuses a __proto__ member anywhere instead of dropping it', () => {
    const parsed = JSON.parse('{"type":"tool_call","callId":"c","tool":"t","input":{"x":{"__proto__":{"admin":true}}}}');
    expect(() => parseEvent(parsed)).toThrow(expect.objectContaining({ code: 'INVALID_EVENT', message: expect.stringMatching(/input\.x\.__proto__.*not allowed/) }));
    expect(() => parseEvent(JSON.parse('{"type":"task","task":"t","__proto__":1}'))).toThrow(expect.objectContaining({ code: 'INVALID_EVENT' }));
  });

  it.each(['tool\u0000name', 'tool\u001b[31m', 'a\nb'])('refuses control characters in a tool name (%j) with INVALID_EVENT', (tool) => {
    expect(() => parseEvent({ type: 'tool_call', callId: 'c', tool, input: {} })).toThrow(expect.objectContaining({ code: 'INVALID_EVENT', message: expect.stringMatching(/tool: control characters/) }));
  });

  it('keeps control characters in content, which is sealed and shown escaped', () => {
    expect(parseEvent({ type: 'message', role: 'user', content: 'a\u0000b\u001b[2J' })).toMatchObject({ content: 'a\u0000b\u001b[2J' });
  });

  it('makes -0 canonical in every clear number, so what is hashed is what Postgres stores', () => {
    const m = parseEvent({ type: 'message', role: 'assistant', content: 'x', costUsd: -0, usage: { promptTokens: -0, completionTokens: 0 }, latencyMs: -0 }) as any;
    expect(Object.is(m.costUsd, 0)).toBe(true);
    expect(Object.is(m.usage.promptTokens, 0)).toBe(true);
    expect(Object.is(m.latencyMs, 0)).toBe(true);
    expect(Object.is((parseEvent({ type: 'tool_result', callId: 'c', output: 1, durationMs: -0 }) as any).durationMs, 0)).toBe(true);
  });

  it('encodes -0 as +0 in the hash framing (known answer)', () => {
    expect(Buffer.from(frame([f64(-0)])).toString('hex')).toBe(Buffer.from(frame([f64(0)])).toString('hex'));
    expect(Buffer.from(frame([f64(-0)])).toString('hex')).toMatch(/0000000000000000$/);
    const row = {
      tenant: 't', session: 's', seq: 1, type: 'message' as const, at: new Date(0), correlationId: 'c', idempotencyKey: null, tool: null,
      promptTokens: null, completionTokens: null, costUsd: -0, durationMs: null, keyVersion: 2, nonce: new Uint8Array(24), ciphertext: new Uint8Array(16),
    };
    expect(encodeForHash(GENESIS_HASH, row)).toEqual(encodeForHash(GENESIS_HASH, { ...row, costUsd: 0 }));
  });

  it('accepts or refuses every number, never anything in between (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.constantFrom(-0, 5e-324, Number.MAX_VALUE, -1e-300)), (costUsd) => {
        let parsed: any;
        try {
          parsed = parseEvent({ type: 'message', role: 'assistant', content: 'x', costUsd });
        } catch (e: any) {
          expect(e.code).toBe('INVALID_EVENT');
          expect(costUsd < 0 || !Number.isFinite(costUsd) || Number.isNaN(costUsd)).toBe(true);
          return;
        }
        expect(Object.is(parsed.costUsd, costUsd === 0 ? 0 : costUsd)).toBe(true);
      }),
    );
  });
});
