// A writer process for the multi-process tests (runs the built library in dist/).
// argv: home database tenant session mode count
//   mode "many":  `count` appends of 1..3 events; prints one JSON line per acknowledged append
//   mode "big":   prints "sending", then one append of `count` ~1 KB events (to be SIGKILLed)
//   mode "groups": `count` sessions named `session`-0.. appending batches of 3 events at once,
//                 without end (to be SIGKILLed); one JSON line per acknowledged append
const { openVault } = require('../../dist');
const { createLogger } = require('../../dist/observability');

async function main() {
  const [home, database, tenant, session, mode, count] = process.argv.slice(2);
  const vault = await openVault({ home, database: database === '-' ? undefined : database, logger: createLogger({ level: 'silent' }), lockTimeoutMs: 120000 });
  const s = vault.session(tenant, session);
  if (mode === 'many') {
    for (let i = 0; i < Number(count); i++) {
      const n = 1 + (i % 3);
      const events = Array.from({ length: n }, (_, j) => ({ type: 'message', role: 'user', content: `${process.pid}:${i}:${j}` }));
      const r = await s.appendMany(events);
      process.stdout.write(JSON.stringify({ firstSeq: r.firstSeq, lastSeq: r.lastSeq, contents: events.map((e) => e.content) }) + '\n');
    }
  } else if (mode === 'groups') {
    const filler = 'y'.repeat(200);
    await Promise.all(Array.from({ length: Number(count) }, async (_, k) => {
      const id = `${session}-${k}`;
      for (let i = 0; ; i++) {
        const events = Array.from({ length: 3 }, (_, j) => ({ type: 'message', role: 'user', content: `${id}:${i}:${j}:${filler}` }));
        const r = await vault.session(tenant, id).appendMany(events);
        process.stdout.write(JSON.stringify({ session: id, firstSeq: r.firstSeq, lastSeq: r.lastSeq, contents: events.map((e) => e.content) }) + '\n');
      }
    }));
  } else {
    const filler = 'x'.repeat(1000);
    const events = Array.from({ length: Number(count) }, (_, i) => ({ type: 'message', role: 'user', content: `big:${i}:${filler}` }));
    process.stdout.write('sending\n');
    await s.appendMany(events);
    process.stdout.write('acknowledged\n');
  }
  await vault.close();
}
main().catch((e) => {
  process.stderr.write(`worker error ${e && e.code}: ${e && e.message}\n`);
  process.exit(9);
});
