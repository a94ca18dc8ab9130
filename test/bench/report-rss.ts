// Preloaded (node -r) into a CLI process the bench runs: reports its peak RSS on exit.
import { writeSync } from 'node:fs';

process.on('exit', () => {
  writeSync(2, `\nbench-peak-rss-kb ${process.resourceUsage().maxRSS}\n`);
});
