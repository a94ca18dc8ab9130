/** Unit tests are pure and fast; integration tests run against PGlite and a real Postgres. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { transpilation: true }] },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  maxWorkers: 2,
  // Generous: crash tests on PGlite wait out a dead process's lock (10 s a time) on a loaded machine.
  testTimeout: 180000,
};
