import type { Logger } from '../observability';

/**
 * Work done off the hot path (snapshots): started, never awaited by the caller, logged
 * when it fails (it is derived data: a failure costs speed, never correctness), and
 * awaited by `vault.close()` so nothing is cut off mid-write.
 */
export class BackgroundTasks {
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly logger: Logger) {}

  run(task: () => Promise<unknown>, what: string): void {
    const p = task().catch((e: unknown) => this.logger.warn({ op: `${what}.failed`, code: (e as { code?: string })?.code ?? 'INTERNAL' }, `background ${what} failed`));
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  /** Waits for everything started so far. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}
