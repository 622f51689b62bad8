import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where the test harness copies what an in-process `pvrun` prints (test/harness/cli.ts): one file
 * per test worker, whose tail the watchdog (watchdog.ts) shows when it kills a hung file, so the
 * hang's last step is on record (CI 10-1: a rollback hung with no I/O and nothing to show where).
 */
export const CLI_TRAIL = join(tmpdir(), `pvrun-test-cli-trail-${process.pid}.log`);
