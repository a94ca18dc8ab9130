/**
 * Runs `fn` on each item, at most `limit` at a time, starting them in order; once
 * `stopped()` says so, starts no more (those running finish). Resolves when all started
 * have finished; `fn` handles its own errors.
 */
export async function eachAtMost<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>, stopped: () => boolean = () => false): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (!stopped() && next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
