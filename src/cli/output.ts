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
