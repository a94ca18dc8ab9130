import { promises as fs } from 'node:fs';
import { InputError } from '../errors';
import { LIMITS } from '../domain';

/** Reads all of stdin, refusing more than `limit` bytes (nothing is stored past the limit). */
export async function readStdin(stream: NodeJS.ReadableStream = process.stdin, limit = LIMITS.maxBatchBytes + 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > limit) throw new InputError('INVALID_EVENT', `input is over the limit of ${limit} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Parses NDJSON: one JSON value a non-blank line. Returns the values with their line
 * numbers; a line that is not JSON is INVALID_EVENT naming the line.
 */
export function parseNdjson(text: string): { values: unknown[]; lines: number[] } {
  const values: unknown[] = [];
  const lines: number[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    try {
      values.push(JSON.parse(line));
    } catch {
      throw new InputError('INVALID_EVENT', `line ${i + 1}: not valid JSON`);
    }
    lines.push(i + 1);
  });
  return { values, lines };
}

/** A positive integer flag, or INVALID_INPUT naming the flag. */
export function intFlag(value: string | undefined, flag: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value) || Number(value) < min) throw new InputError('INVALID_INPUT', `${flag} takes a whole number ≥ ${min}`);
  return Number(value);
}

/** An ISO-8601 time flag, or INVALID_INPUT. */
export function timeFlag(value: string | undefined, flag: string): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime())) {
    throw new InputError('INVALID_INPUT', `${flag} takes an ISO-8601 time, e.g. 2026-01-31T12:00:00Z`);
  }
  return d;
}

/** A file's text; INVALID_INPUT naming the file and the system's code when it cannot be read. */
export async function readInputFile(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new InputError('INVALID_INPUT', `cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
