#!/usr/bin/env node
import { main } from './main';

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
