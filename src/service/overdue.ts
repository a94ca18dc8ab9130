import type { FastifyReply } from 'fastify';
import { InputError } from '../errors';

/**
 * Requests still unanswered after a limit, found by one sweep for the whole service,
 * not a timer each. `track` when a request arrives, `done` when its response has gone;
 * `overdue` is called once for a request still unanswered `limitMs` after it arrived,
 * within a tenth of the limit (at most a second) after that.
 *
 * Why not Fastify's own `handlerTimeout`: it builds an AbortController and a timer for
 * every request, and aborts the controller when the request closes, which makes a
 * DOMException each time. By turns on loopback that was about a sixth of the service's
 * CPU on an append (docs/performance.md, stop 43). Nothing in the service reads the
 * request's abort signal.
 */
export class OverdueRequests {
  /** Arrival times by reply, in arrival order (a Map keeps insertion order). */
  private readonly pending = new Map<FastifyReply, number>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly limitMs: number,
    private readonly overdue: (reply: FastifyReply) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isSafeInteger(limitMs) || limitMs <= 0) throw new InputError('INVALID_CONFIG', 'handlerTimeoutMs must be a whole number of milliseconds above 0');
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(10, Math.floor(limitMs / 10))));
    this.sweeper.unref(); // never what keeps a process alive
  }

  track(reply: FastifyReply): void {
    this.pending.set(reply, this.now());
  }

  done(reply: FastifyReply): void {
    this.pending.delete(reply);
  }

  /** Stops sweeping (the service is closed). */
  stop(): void {
    clearInterval(this.sweeper);
    this.pending.clear();
  }

  /**
   * Hands every request past the limit to `overdue`, oldest first, and forgets replies
   * that ended without `done` (a client that went away). Stops at the first request
   * still within the limit: every one after it arrived later.
   */
  sweep(): void {
    const due = this.now() - this.limitMs;
    for (const [reply, at] of this.pending) {
      const ended = reply.sent || reply.raw.destroyed;
      if (!ended && at > due) break;
      this.pending.delete(reply);
      if (!ended) this.overdue(reply);
    }
  }
}
