// LangGraph's checkpointer conformance suite is written for vitest: it runs here, as its
// own step of `npm test` (the rest of the suite is jest). Same global setup: both backends.
export default {
  test: {
    include: ['test/conformance/**/*.vitest.ts'],
    globals: true,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ['test/support/vitest-global-setup.ts'],
    fileParallelism: false,
  },
};
