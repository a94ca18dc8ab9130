// Preloaded (node -r) into a CLI process the bench runs: reports its peak RSS on exit.
// On Linux from VmHWM, the peak of this process image alone: getrusage's maxRSS also
// counts the forked copy of the parent (the bench, a few hundred MB) from before exec.
import { readFileSync, writeSync } from 'node:fs';

process.on('exit', () => {
  let kb = process.resourceUsage().maxRSS;
  try {
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) kb = Number(hwm[1]);
  } catch {
    // no /proc here: getrusage's figure, an upper bound
  }
  writeSync(2, `\nbench-peak-rss-kb ${kb}\n`);
});
