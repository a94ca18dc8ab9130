import { setFlagsFromString } from 'node:v8';

/**
 * A CLI command on the embedded store lives for a second or a few. V8 compiles PGlite's
 * WebAssembly build (9 MB) twice by default: quickly with its baseline compiler
 * (Liftoff), then hot functions again, in the background, with its optimizing one
 * (TurboFan), a speed-up such a run hardly lives to use while peak memory holds both.
 * With Liftoff alone, measured on a 10,000-event session (`sessions`, `verify`, `events`,
 * `replay --window 20`): peak RSS 237–279 MB → 158–200 MB, and each command as fast or
 * faster (`sessions` 1.4 → 0.8 s).
 *
 * This changes how WebAssembly compiled from now on in this process compiles (PGlite's,
 * when the store opens), nothing else. A process-wide setting, so the CLI makes it, never
 * the library; `serve`, which runs for long, keeps the default.
 */
export function compileWasmForShortRun(): void {
  setFlagsFromString('--liftoff-only');
}
