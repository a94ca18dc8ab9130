/** Where commands write. Injected so tests can run commands in-process. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Raw text on stdout, no newline added (streamed replies). */
  write?(text: string): void;
}

export const processOutput: Output = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  write: (t) => process.stdout.write(t),
};

/** One JSON document (or, for streams, one NDJSON line). */
export function json(o: Output, value: unknown): void {
  o.out(JSON.stringify(value));
}

/** C0 and C1 controls (ESC, CSI, BEL, NUL, tab, newline…) and the Unicode line separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Text for a terminal: every control character escaped as `\uXXXX`, so content written
 * by a customer or a model (terminal escapes, a fake newline) cannot move the cursor,
 * recolour, retitle or forge lines in an operator's terminal. Human output only; --json
 * stays exact.
 */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
