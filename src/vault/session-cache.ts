import type { SecretBytes } from '../crypto';

/** What an appender needs of a session: its data key and where its chain ends. */
export interface OpenSession {
  agent: string | null;
  status: 'active' | 'archived' | 'purged';
  dataKey: SecretBytes;
  dataKeyVersion: number;
  headSeq: number;
  headHash: Uint8Array | null;
  lastAt: Date | null;
}

/**
 * Recently used sessions, least recently used evicted past `capacity`. The head is a
 * hint: the database's optimistic check is the truth, and a stale head only costs a
 * reload. An evicted data key is dropped, not zeroed, because an in-flight operation
 * may still hold it (the garbage collector reclaims it); keys still cached are zeroed
 * when the vault closes.
 */
export class SessionCache {
  private readonly entries = new Map<string, OpenSession>();

  constructor(private readonly capacity = 1024) {}

  get(tenant: string, session: string): OpenSession | undefined {
    const k = key(tenant, session);
    const v = this.entries.get(k);
    if (v) {
      this.entries.delete(k);
      this.entries.set(k, v);
    }
    return v;
  }

  set(tenant: string, session: string, value: OpenSession): void {
    const k = key(tenant, session);
    this.entries.delete(k);
    this.entries.set(k, value);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  delete(tenant: string, session: string): void {
    this.entries.delete(key(tenant, session));
  }

  /** Forgets every session (their rows changed underneath, e.g. by a rewrap). Keys are dropped, not zeroed: in-flight reads may hold them. */
  clear(): void {
    this.entries.clear();
  }

  /** Zeroes every cached data key. */
  dispose(): void {
    for (const v of this.entries.values()) v.dataKey.dispose();
    this.entries.clear();
  }
}

const key = (tenant: string, session: string) => `${tenant}\u0000${session}`;
