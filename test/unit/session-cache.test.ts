import { SessionCache, runToHead } from '../../src/vault/session-cache';
import type { VaultEvent } from '../../src/domain';
import { freshCompact, type CompactState } from '../../src/replay';

/** The held latest states beside the session cache: ownership, order, bounds, forgetting. */
const at = (session: string, lastSeq: number): CompactState => {
  const c = freshCompact({ tenant: 't', session, agent: null });
  c.state.lastSeq = lastSeq;
  c.state.head = '00'.repeat(32);
  return c;
};

describe('SessionCache held states', () => {
  it('hands a held state to one taker only', () => {
    const cache = new SessionCache(8, 4);
    const s = at('a', 3);
    cache.holdState('t', 'a', s);
    expect(cache.takeState('t', 'a')).toBe(s);
    expect(cache.takeState('t', 'a')).toBeUndefined();
  });

  it('keeps the newer state when an older one is held after it', () => {
    const cache = new SessionCache(8, 4);
    const newer = at('a', 9);
    cache.holdState('t', 'a', newer);
    cache.holdState('t', 'a', at('a', 5));
    expect(cache.takeState('t', 'a')).toBe(newer);
  });

  it('holds at most stateCapacity sessions, dropping the least recently held, and none with 0', () => {
    const cache = new SessionCache(8, 2);
    for (const id of ['a', 'b', 'c']) cache.holdState('t', id, at(id, 1));
    expect(cache.takeState('t', 'a')).toBeUndefined();
    expect(cache.takeState('t', 'b')?.state.session).toBe('b');
    expect(cache.takeState('t', 'c')?.state.session).toBe('c');
    const none = new SessionCache(8, 0);
    none.holdState('t', 'a', at('a', 1));
    expect(none.takeState('t', 'a')).toBeUndefined();
  });

  it('forgets a held state with its session, and all of them on clear and dispose', () => {
    const cache = new SessionCache(8, 4);
    cache.holdState('t', 'a', at('a', 1));
    cache.holdState('t', 'b', at('b', 1));
    cache.delete('t', 'a');
    expect(cache.takeState('t', 'a')).toBeUndefined();
    cache.clear();
    expect(cache.takeState('t', 'b')).toBeUndefined();
    cache.holdState('t', 'c', at('c', 1));
    cache.dispose();
    expect(cache.takeState('t', 'c')).toBeUndefined();
  });

  it('keeps tenants apart', () => {
    const cache = new SessionCache(8, 4);
    cache.holdState('t', 'a', at('a', 1));
    expect(cache.takeState('u', 'a')).toBeUndefined();
  });
  it('holds events as it holds states: the newer kept, at most stateCapacity sessions, none with 0, forgotten with the session', () => {
    const held = (seq: number) => ({ seq, hash: `h${seq}`, events: [] });
    const cache = new SessionCache(8, 2);
    cache.holdEvents('t', 'a', held(5));
    cache.holdEvents('t', 'a', held(3)); // older: dropped
    expect(cache.heldEvents('t', 'a')?.seq).toBe(5);
    expect(cache.heldEvents('u', 'a')).toBeUndefined();
    cache.holdEvents('t', 'b', held(1));
    cache.holdEvents('t', 'c', held(1));
    expect(cache.heldEvents('t', 'a')).toBeUndefined(); // the least recently held went
    cache.delete('t', 'b');
    expect(cache.heldEvents('t', 'b')).toBeUndefined();
    cache.clear();
    expect(cache.heldEvents('t', 'c')).toBeUndefined();
    const none = new SessionCache(8, 0);
    none.holdEvents('t', 'a', held(1));
    expect(none.heldEvents('t', 'a')).toBeUndefined();
  });
  it('finds the run of consecutive seqs that ends at the head, or none when the events do not end there', () => {
    const events = (...seqs: number[]) => seqs.map((seq) => ({ seq, type: 'message', at: new Date(0), correlationId: 'c', hash: `h${seq}`, data: {} }) as VaultEvent);
    expect(runToHead(events(2, 5, 6, 7), 7)).toBe(1);
    expect(runToHead(events(1, 2, 3), 3)).toBe(0);
    expect(runToHead(events(4), 4)).toBe(0);
    expect(runToHead(events(1, 2, 3), 4)).toBe(-1);
    expect(runToHead([], 0)).toBe(-1);
  });
});
