import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real sshd / pwsh / lab guests are slow to start on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One test file at a time: the suites start real sshd, pwsh and container guests, and on a
    // 2-core machine files running side by side starve each other into timeouts.
    fileParallelism: false,
    // a file that hangs fails with its name and process tree printed (test/harness/watchdog.ts)
    setupFiles: ['test/harness/watchdog.ts'],
  },
});
