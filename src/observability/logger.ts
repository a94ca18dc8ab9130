import pino, { type Logger, type LevelWithSilent } from 'pino';
import { currentContext } from './context';

export type { Logger };

/**
 * Paths redacted from every log line, in this one place. The vault never logs content
 * or keys on purpose (it logs ids, counts, sizes and codes); this is the second line of
 * defence should a field slip into a log call.
 */
export const REDACT_PATHS = [
  'content',
  'data',
  'input',
  'output',
  'patch',
  'plaintext',
  'key',
  'secretKey',
  'masterKey',
  'password',
  'token',
  'authorization',
  '*.content',
  '*.data',
  '*.input',
  '*.output',
  '*.patch',
  '*.plaintext',
  '*.key',
  '*.secretKey',
  '*.masterKey',
  '*.password',
  '*.token',
  '*.authorization',
  '*.headers.authorization',
];

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * The vault's logger: JSON lines on stderr (fd 2, written synchronously so nothing is
 * lost at exit), each carrying the ambient correlation id, tenant and session. Errors
 * are logged by code and message only — never their cause, whose driver text can
 * include query parameters.
 */
export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const level = options.level ?? 'info';
  if (!LEVELS.includes(level)) {
    throw new RangeError(`log level must be one of ${LEVELS.join(', ')}`);
  }
  return pino(
    {
      name: 'session-vault',
      level: level as LevelWithSilent,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      mixin: () => ({ ...currentContext() }),
      serializers: {
        err: (e: unknown) =>
          e && typeof e === 'object'
            ? { type: (e as Error).name, code: (e as { code?: unknown }).code, message: (e as Error).message }
            : { message: String(e) },
      },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}
