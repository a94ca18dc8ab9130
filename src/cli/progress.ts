import { SingleBar, Presets } from 'cli-progress';

/**
 * A progress bar on stderr for long runs (many-session exports, later rewraps and
 * retention runs). It draws only on a terminal, so piped output and logs stay clean.
 */
export interface Progress {
  tick(label?: string): void;
  stop(): void;
}

export function progressBar(total: number, what: string): Progress {
  if (!process.stderr.isTTY || total === 0) return { tick: () => {}, stop: () => {} };
  const bar = new SingleBar(
    { format: `${what} [{bar}] {value}/{total} {label}`, stream: process.stderr, hideCursor: true, clearOnComplete: false },
    Presets.shades_classic,
  );
  bar.start(total, 0, { label: '' });
  return { tick: (label = '') => bar.increment(1, { label }), stop: () => bar.stop() };
}
