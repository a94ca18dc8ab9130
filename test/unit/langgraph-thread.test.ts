import fc from 'fast-check';
import { sessionId } from '../../src/domain';
import { isThreadSession, sessionOfThread } from '../../src/integrations/langgraph/thread';
import { orderWrites, type StoredWrite } from '../../src/integrations/langgraph/tuple';
import { VaultCheckpointSaver } from '../../src/integrations/langgraph';
import type { Vault } from '../../src/vault';
import { compareWritesSortKeys, writesSortKey } from '@langchain/langgraph-checkpoint';

describe('LangGraph threads as sessions', () => {
  it('every thread id maps to a valid session id of the saver, and distinct threads never share one', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 300 }), fc.string({ minLength: 1, maxLength: 300 }), (a, b) => {
        const [sa, sb] = [sessionOfThread(a), sessionOfThread(b)];
        expect(() => sessionId(sa)).not.toThrow();
        expect(isThreadSession(sa)).toBe(true);
        return a === b ? sa === sb : sa !== sb;
      }),
      { numRuns: 2000 },
    );
    // The two forms never meet: a kept name that looks like a hash stays a kept name.
    const hashed = sessionOfThread('not a session id!');
    expect(hashed).toMatch(/^lgh\.[0-9a-f]{64}$/);
    expect(sessionOfThread(hashed)).not.toBe(hashed);
    expect(sessionOfThread('user-42')).toBe('lg.user-42');
  });

  it("orders a checkpoint's writes as LangGraph does: first stored wins for a regular write, last for a special one", () => {
    const w = (taskId: string, idx: number, value: string, taskPath = ''): StoredWrite => ({ taskId, taskPath, idx, channel: 'c', value: { t: 'json', b: value } });
    const ordered = orderWrites(
      [w('b', 0, 'b0'), w('a', 1, 'a1'), w('a', 0, 'a0'), w('a', 0, 'a0-retry'), w('a', -1, 'err1'), w('a', -1, 'err2'), w('c', 0, 'c0', '~1')],
      (x) => writesSortKey(x.taskPath, x.taskId, x.idx),
      compareWritesSortKeys,
    );
    expect(ordered.map((x) => x.value.b)).toEqual(['err2', 'a0', 'a1', 'b0', 'c0']);
  });

  it('the saver refuses options without a vault and tenant, or a prefix that would not make session ids', () => {
    const vault = {} as Vault;
    expect(() => new VaultCheckpointSaver({ tenant: 'bank' } as never)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(() => new VaultCheckpointSaver({ vault, tenant: 'bank', prefix: 'a.b' })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(new VaultCheckpointSaver({ vault, tenant: 'bank', prefix: 'graphs' }).sessionOf('t-1')).toBe('graphs.t-1');
  });
});
