#!/usr/bin/env node
import { main } from './main';

// The AWS SDK warns about Node versions on stderr when an S3 store is used; the CLI's
// stderr carries one error line at most, so that one warning is dropped here.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const text = typeof warning === 'string' ? warning : warning.message;
  if (text.startsWith('NodeVersionSupportWarning:')) return;
  (emitWarning as (...a: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

// A reader that goes away (`session-vault events … | head`) closes the pipe: end quietly,
// with the code so far, instead of a stack trace and exit 1 (which means integrity failure).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw e;
  });
}

// The only place the process exits: after output is flushed, with the command's code.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`error[INTERNAL]: ${e instanceof Error ? e.name : 'error'}\n`);
    process.exitCode = 4;
  },
);
