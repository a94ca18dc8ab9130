// Prints the plain closing line CI reads ("Tests: N passed, N failed, N skipped").
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests: p, numFailedTests: f, numPendingTests: s, numTodoTests: t } = results;
    process.stdout.write(`\nTests: ${p} passed, ${f} failed, ${s + t} skipped\n`);
  }
}
module.exports = SummaryReporter;
