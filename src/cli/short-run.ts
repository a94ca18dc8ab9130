import { setFlagsFromString } from 'node:v8';

/**
 * A CLI command on the embedded store lives for a second or a few, beside PGlite's own
 * 140 MB of WebAssembly memory. Two V8 settings fit such a run better than V8's defaults,
 * each measured on a 10,000-event session (`npm run bench` reports every command's peak):
 *
 * - `--liftoff-only`: V8 compiles PGlite's WebAssembly build (9 MB) twice by default:
 *   quickly with its baseline compiler (Liftoff), then hot functions again, in the
 *   background, with its optimizing one (TurboFan), a speed-up such a run hardly lives to
 *   use while peak memory holds both. Peak RSS of `sessions`, `verify`, `events`,
 *   `replay --window 20`: 237–279 MB → 158–200 MB, each command as fast or faster.
 * - `--heap-growing-percent=20`: after a full collection V8 lets the heap grow to a
 *   multiple of what is live (up to 4× for a small heap) before it collects again; here,
 *   to 1.2×. What a command holds (an export's bundle) is then not doubled by garbage
 *   awaiting collection: `export --decrypt` 229–262 MB → 221–224 MB, `verify` 191 → 185
 *   MB, in the same time (5.6 s, 2.2 s).
 *
 * Process-wide settings, so the CLI makes them, never the library; `serve`, which runs
 * for long, keeps the defaults. They change how WebAssembly compiled from now on compiles
 * (PGlite's, when the store opens) and when the heap is collected, nothing else.
 */
export function tuneForShortRun(): void {
  setFlagsFromString('--liftoff-only');
  setFlagsFromString('--heap-growing-percent=20');
}
