import { randomUUID } from 'node:crypto';
import { InputError, VaultError } from '../../errors';
import type { Operator, Vault } from '../../vault';
import { callKeys, recordKeyed } from '../record';

/** One remembered fact about a user. */
export interface Fact {
  id: string;
  text: string;
  /** 0..1: how much it matters; the context builder injects the most important first. */
  importance: number;
  at: string;
}

const USER_REF = /^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/;

/**
 * Cross-session memory: facts an agent learns about a user (preferences, project
 * context), kept per tenant and user reference across all of that user's sessions.
 *
 * The facts of one user live in a vault session of their own, `memory:<userRef>:g<N>`:
 * sealed with its own data key, hash-chained, replayable like any session. Forgetting
 * shreds that session's key, so no plaintext is left behind — not in the database, not
 * in a backup that holds only ciphertext. Forgetting one fact copies the others into the
 * next generation's session and shreds the old one. Legal holds apply as to any session.
 * Its appends carry idempotency keys and are sent again while the database is
 * unreachable (integrations/record.ts): a failover under `remember` stores the fact once.
 */
export class UserMemory {
  constructor(
    private readonly vault: Vault,
    private readonly tenant: string,
  ) {}

  /** Remembers a fact (1..2000 characters, importance 0..1). */
  async remember(userRef: string, text: string, importance = 0.5): Promise<Fact> {
    checkRef(userRef);
    if (typeof text !== 'string' || text.length === 0 || text.length > 2000) throw new InputError('INVALID_INPUT', 'a fact is 1..2000 characters');
    if (!(importance >= 0 && importance <= 1)) throw new InputError('INVALID_INPUT', 'importance is a number from 0 to 1');
    const fact: Fact = { id: randomUUID(), text, importance, at: new Date().toISOString() };
    const { id: session } = await this.current(userRef);
    await recordKeyed(this.vault.session(this.tenant, session), [{ type: 'state_patch', scope: 'world', patch: { facts: { [fact.id]: { text, importance, at: fact.at } } }, idempotencyKey: `memory/${fact.id}` }], { agent: 'memory', op: 'memory.record' });
    return fact;
  }

  /** Every fact about the user, most important first (newest first among equals). */
  async facts(userRef: string): Promise<Fact[]> {
    checkRef(userRef);
    const { id, exists } = await this.current(userRef);
    if (!exists) return [];
    const state = await this.vault.session(this.tenant, id).state({ window: 1 }); // the facts are world state: no list is needed
    const facts = (state.worldState.facts ?? {}) as Record<string, { text: string; importance: number; at: string }>;
    return Object.entries(facts)
      .map(([factId, f]) => ({ id: factId, ...f }))
      .sort((a, b) => b.importance - a.importance || b.at.localeCompare(a.at));
  }

  /** The texts of the `k` most important facts, for the system prompt. */
  async top(userRef: string, k = 5): Promise<string[]> {
    return (await this.facts(userRef)).slice(0, k).map((f) => f.text);
  }

  /**
   * Forgets every fact about the user, or one, by crypto-shredding (recorded in the access
   * trail as `keys.shred` by `who`). LEGAL_HOLD if the user's memory is under hold.
   */
  async forget(userRef: string, who: Operator, factId?: string): Promise<{ forgotten: number }> {
    checkRef(userRef);
    const cur = await this.current(userRef);
    if (!cur.exists) return { forgotten: 0 };
    const all = await this.facts(userRef);
    const keep = factId === undefined ? [] : all.filter((f) => f.id !== factId);
    if (keep.length === all.length) return { forgotten: 0 };
    if (keep.length > 0) {
      const next = memorySession(userRef, cur.generation + 1);
      const patch = Object.fromEntries(keep.map((f) => [f.id, { text: f.text, importance: f.importance, at: f.at }]));
      await recordKeyed(this.vault.session(this.tenant, next), [{ type: 'state_patch', scope: 'world', patch: { facts: patch }, idempotencyKey: callKeys('memory')('copy') }], { agent: 'memory', op: 'memory.record' });
    }
    await this.vault.operator(who).shred(this.tenant, cur.id);
    return { forgotten: all.length - keep.length };
  }

  /** The user's current memory session: the newest generation not shredded (or the next one to create). */
  private async current(userRef: string): Promise<{ id: string; generation: number; exists: boolean }> {
    for (let g = 1; ; g++) {
      const id = memorySession(userRef, g);
      try {
        await this.vault.session(this.tenant, id).state({ atSeq: 0 });
        return { id, generation: g, exists: true };
      } catch (e) {
        if (e instanceof VaultError && e.code === 'UNKNOWN_SESSION') return { id, generation: g, exists: false };
        if (e instanceof VaultError && e.code === 'KEY_DESTROYED') continue; // a forgotten generation
        throw e;
      }
    }
  }
}

function memorySession(userRef: string, generation: number): string {
  return `memory:${userRef}:g${generation}`;
}

function checkRef(userRef: string): void {
  if (typeof userRef !== 'string' || !USER_REF.test(userRef)) throw new InputError('INVALID_ID', 'a user reference is 1..101 characters of [A-Za-z0-9._-], starting with a letter or digit');
}
